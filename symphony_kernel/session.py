"""The kernel session's state: its Pit, the store it opened, and the event history views read.

Kept apart from ``extension`` so that ``%reload_ext symphony_kernel`` reloads the Python layer
(magics, tables, the extension glue) while the session — a live Pit with its store and event
pump — stays as it is: a PyO3 module initialises once per process, and a Pit is not something to
lose because its magics changed.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from symphony_pit import Pit
from symphony_widgets.feed import EventFeed

#: Environment variable naming the session's store: a directory, or ``:memory:`` for none.
STORE_ENV = "SYMPHONY_STORE"
#: The value of ``SYMPHONY_STORE`` that keeps the session's Pit in memory only.
MEMORY = ":memory:"


def default_store(cwd: Path | None = None) -> Path:
    """Where a session started in ``cwd`` keeps its store when ``SYMPHONY_STORE`` is unset.

    Under the user's data directory (``$XDG_DATA_HOME``, else ``~/.local/share``), one folder per
    working directory, so results and run history survive a kernel restart while the repository
    the notebooks live in stays clean.

    >>> default_store(Path("/home/ada/lab")).name
    'home-ada-lab'
    """
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    where = (cwd or Path.cwd()).resolve()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", str(where)).strip("-") or "root"
    return base / "symphony-lab" / "sessions" / slug


class StoreInUse(RuntimeError):
    """Another kernel holds the store (two writers on one store would tread on each other)."""


def lock_store(store: Path) -> IO[bytes]:
    """Hold ``store`` for this process (released when the returned file is closed, or the process
    ends); ``StoreInUse`` if another kernel holds it."""
    store.mkdir(parents=True, exist_ok=True)
    handle = (store / "kernel.lock").open("wb")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreInUse(f"store {store} is in use by another kernel") from None
    return handle


def open_store(requested: str | None) -> tuple[str | None, IO[bytes] | None]:
    """The store a new session opens and the lock it holds on it: ``requested`` (from
    ``SYMPHONY_STORE``), else the working directory's default. A default store another kernel
    holds gives way to the next free one beside it (``…-2``, ``…-3``); a requested one in use is
    an error, as the user named it."""
    if requested == MEMORY:
        return None, None
    if requested:
        path = Path(requested).expanduser()
        return str(path), lock_store(path)
    base = default_store()
    for n in range(1, 100):
        path = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            return str(path), lock_store(path)
        except StoreInUse:
            continue
    raise StoreInUse(f"every store beside {base} is in use; set {STORE_ENV}")


@dataclass
class Session:
    """One kernel's Pit, its store lock and its event history."""

    pit: Pit
    store: str | None
    history: EventFeed
    lock: IO[bytes] | None = None
    opened_ms: float = 0.0
    shown_card: bool = field(default=False)
    #: Stops the progress bars ``pit.run`` shows in cells.
    stop_watching: Callable[[], None] | None = None

    def close(self) -> None:
        """Stop the pump and the progress bars, flush and close the Pit, release the store."""
        if self.stop_watching is not None:
            self.stop_watching()
        self.history.stop()
        self.pit.close()
        if self.lock is not None:
            self.lock.close()


#: The session of this kernel process (``None`` until ``%load_ext symphony_kernel``).
current: Session | None = None
