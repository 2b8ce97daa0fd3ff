"""One reader of a Pit's event stream for every view: a bounded history, batches to listeners.

The views (and ``%symphony events``) must never take events from the user, whose
``pit.poll_events()`` returns every event: a feed reads with ``Pit.read_events`` instead, keeping
the last sequence number it saw. One background thread per Pit reads every ``PUMP_INTERVAL_S``
and hands each listener the new batch at once, so a view updates at most that often however
fast the events come (jupyter_server drops iopub output past 1,000 messages/s or 1 MB/s).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable

from symphony_pit import Event, Pit

#: Events a feed keeps for late readers (the oldest go first).
HISTORY_EVENTS = 10_000
#: How often the pump reads new events: the views' update pace.
PUMP_INTERVAL_S = 0.1

Listener = Callable[[list[Event]], None]

log = logging.getLogger(__name__)


class EventFeed:
    """A bounded history of the Pit's events, read without taking them from the user.

    A background thread reads new events every ``PUMP_INTERVAL_S`` through ``Pit.read_events``
    (``pit.poll_events()`` still returns every event to the user), keeps the newest
    ``HISTORY_EVENTS`` and hands each new batch to the listeners (views).

    >>> pit = Pit()
    >>> history = EventFeed(pit)
    >>> _ = pit.artifacts.put(b"x")
    >>> _ = history.catch_up()
    >>> [e.kind for e in history.latest(1)]
    ['artifact.stored']
    >>> history.stop()
    """

    def __init__(self, pit: Pit, capacity: int = HISTORY_EVENTS) -> None:
        # Weak: a feed must not keep a Pit alive (its views hold it while they are shown).
        self._pit = weakref.ref(pit)
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

    @property
    def stopped(self) -> bool:
        """Whether the pump was stopped (or its Pit closed)."""
        pit = self._pit()
        return self._stopped.is_set() or pit is None or pit.closed

    def stop(self) -> None:
        """Stop the pump and wait for it."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def catch_up(self) -> int:
        """Read what is new now (the pump does this on its own); returns how many were new."""
        with self._lock:
            pit = self._pit()
            if pit is None or pit.closed:
                return 0
            new = pit.read_events(self._last_seq, 100_000)
            if not new:
                return 0
            self._last_seq = new[-1].seq
            self._events.extend(new)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(new)
            except Exception:  # one view's failure must not stop the others'
                log.exception("event feed: listener %r failed", listener)
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
            if self.stopped:
                return  # the Pit closed or is gone: nothing more will come
            try:
                self.catch_up()
            except Exception:  # the Pit closed under it, say: the next tick tells
                log.exception("event feed: reading failed")


_feeds: weakref.WeakKeyDictionary[Pit, EventFeed] = weakref.WeakKeyDictionary()
_feeds_lock = threading.Lock()


def feed_for(pit: Pit) -> EventFeed:
    """The running feed of ``pit`` (started on first use; one per Pit, shared by its views).

    >>> pit = Pit()
    >>> feed_for(pit) is feed_for(pit)
    True
    """
    with _feeds_lock:
        feed = _feeds.get(pit)
        if feed is None or feed.stopped:
            feed = EventFeed(pit)
            feed.start()
            _feeds[pit] = feed
        return feed


def adopt(pit: Pit, feed: EventFeed) -> None:
    """Make ``feed`` the one ``feed_for(pit)`` returns (a kernel session's own)."""
    with _feeds_lock:
        _feeds[pit] = feed
