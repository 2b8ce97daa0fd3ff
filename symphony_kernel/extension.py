"""The IPython extension: one Pit per kernel session, pushed into the user namespace."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from symphony_pit import Pit, set_default_pit

log = logging.getLogger(__name__)

#: Environment variable naming the store directory of the session's Pit (in memory if unset).
STORE_ENV = "SYMPHONY_STORE"

_session_pit: Pit | None = None


def get_pit() -> Pit:
    """The session's Pit, created by ``%load_ext symphony_kernel``."""
    if _session_pit is None:
        raise RuntimeError("no session Pit: run `%load_ext symphony_kernel` first")
    return _session_pit


def load_ipython_extension(ipython: Any) -> None:
    """Create the session's Pit (once), expose it as ``pit`` and register ``%symphony``."""
    global _session_pit
    from symphony_kernel.magics import SymphonyMagics

    if _session_pit is None or _session_pit.closed:
        started = time.perf_counter()
        _session_pit = Pit(os.environ.get(STORE_ENV) or None)
        set_default_pit(_session_pit)  # Pipelines run without a Pit use the session's
        log.info("session Pit ready in %.1f ms (%s)", (time.perf_counter() - started) * 1e3, _session_pit)
    ipython.push({"pit": _session_pit})
    ipython.register_magics(SymphonyMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Close the session's Pit (flushing its writes) and remove ``pit`` from the namespace."""
    global _session_pit
    if _session_pit is not None:
        _session_pit.close()
        _session_pit = None
        set_default_pit(None)
    ipython.user_ns.pop("pit", None)
