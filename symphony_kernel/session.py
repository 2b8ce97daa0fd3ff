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
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from symphony_pit import Event, Pit

#: Environment variable naming the session's store: a directory, or ``:memory:`` for none.
STORE_ENV = "SYMPHONY_STORE"
#: The value of ``SYMPHONY_STORE`` that keeps the session's Pit in memory only.
MEMORY = ":memory:"
#: Events the history keeps for the views and ``%symphony events`` (the oldest go first).
HISTORY_EVENTS = 10_000
#: How often the pump reads new events (views coalesce their updates at about this pace).
PUMP_INTERVAL_S = 0.05

Listener = Callable[[list[Event]], None]


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


class EventHistory:
    """A bounded history of the Pit's events, read without taking them from the user.

    A background thread reads new events every ``PUMP_INTERVAL_S`` through ``Pit.read_events``
    (``pit.poll_events()`` still returns every event to the user), keeps the newest
    ``HISTORY_EVENTS`` and hands each new batch to the listeners (views).

    >>> pit = Pit()
    >>> history = EventHistory(pit)
    >>> _ = pit.artifacts.put(b"x")
    >>> _ = history.catch_up()
    >>> [e.kind for e in history.latest(1)]
    ['artifact.stored']
    >>> history.stop()
    """

    def __init__(self, pit: Pit, capacity: int = HISTORY_EVENTS) -> None:
        self._pit = pit
        self._events: deque[Event] = deque(maxlen=capacity)
        self._last_seq = 0
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the pump thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._pump, name="symphony-event-pump", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the pump and wait for it."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def catch_up(self) -> int:
        """Read what is new now (the pump does this on its own); returns how many were new."""
        with self._lock:
            if self._pit.closed:
                return 0
            new = self._pit.read_events(self._last_seq, 100_000)
            if not new:
                return 0
            self._last_seq = new[-1].seq
            self._events.extend(new)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(new)
        return len(new)

    def latest(self, n: int) -> list[Event]:
        """The newest ``n`` events kept, oldest first."""
        self.catch_up()
        with self._lock:
            return list(self._events)[-n:] if n > 0 else []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with each new batch (on the pump's thread); returns the unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _pump(self) -> None:
        while not self._stopped.wait(PUMP_INTERVAL_S):
            try:
                self.catch_up()
            except Exception:  # a listener's failure must not stop the views of the others
                import logging

                logging.getLogger(__name__).exception("event pump: a batch failed")


@dataclass
class Session:
    """One kernel's Pit, its store lock and its event history."""

    pit: Pit
    store: str | None
    history: EventHistory
    lock: IO[bytes] | None = None
    opened_ms: float = 0.0
    shown_card: bool = field(default=False)

    def close(self) -> None:
        """Stop the pump, flush and close the Pit, release the store."""
        self.history.stop()
        self.pit.close()
        if self.lock is not None:
            self.lock.close()


#: The session of this kernel process (``None`` until ``%load_ext symphony_kernel``).
current: Session | None = None
