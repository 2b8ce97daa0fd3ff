"""Exceptions raised by the Pit.

Every error the engine reports is a :class:`PitError`; the subclasses also derive from the
built-in exception a Python programmer would expect, so ``except KeyError`` catches an unknown
artifact id and ``except ValueError`` catches a malformed spec.
"""

from __future__ import annotations


class PitError(Exception):
    """Base class of every error raised by the Pit."""


class ValidationError(PitError, ValueError):
    """Malformed input, or an operation not allowed in the current state."""


class ResourceExhausted(PitError, RuntimeError):
    """A request does not fit in a pool's remaining capacity."""


class NotFound(PitError, KeyError):
    """An unknown pool, handle, artifact, run or node."""

    def __str__(self) -> str:
        # KeyError would quote the message like a key; show it as a sentence.
        return str(self.args[0]) if self.args else ""


class IntegrityError(PitError):
    """Stored data failed verification (e.g. a blob whose bytes no longer match its hash)."""


class Cancelled(PitError):
    """Work was cancelled before it finished."""


class StorageError(PitError, OSError):
    """The store directory or its database could not be read or written."""


class InternalError(PitError):
    """A bug inside the Pit (including a caught Rust panic); the interpreter keeps running."""


__all__ = [
    "Cancelled",
    "IntegrityError",
    "InternalError",
    "NotFound",
    "PitError",
    "ResourceExhausted",
    "StorageError",
    "ValidationError",
]
