"""The IPython extension: one Pit per kernel session, pushed into the user namespace.

``%load_ext symphony_kernel`` opens the session's Pit on a persistent store (``SYMPHONY_STORE``, or
a folder per working directory under the user's data directory; ``SYMPHONY_STORE=:memory:`` for
none), starts the event pump, registers ``%symphony`` and shows a short card. Loading it again
says nothing; ``%reload_ext`` reloads the Python layer and keeps the Pit; ``%unload_ext`` flushes
and closes the Pit. The Symphony kernel (``symphony_kernel.kernelspec``) opens the session as it
starts, so a notebook's own ``%load_ext`` only shows the card.
"""

from __future__ import annotations

import html
import importlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from symphony_pit import Pit, Workflow, set_default_pit, watch_runs
from symphony_widgets.feed import EventFeed, adopt

from symphony_kernel import session as _session

log = logging.getLogger(__name__)

STORE_ENV = _session.STORE_ENV

#: The modules ``%reload_ext symphony_kernel`` reloads (the session module is not one of them).
RELOADED = ("symphony_kernel.tables", "symphony_kernel.magics", "symphony_kernel.extension")


def get_pit() -> Pit:
    """The session's Pit, created by ``%load_ext symphony_kernel`` (or the Symphony kernel).

    >>> get_pit()  # doctest: +SKIP
    Pit(store='/home/ada/.local/share/symphony-lab/sessions/home-ada-lab', ...)
    """
    return get_session().pit


def get_session() -> _session.Session:
    """The kernel's session (its Pit, store and event history)."""
    if _session.current is None or _session.current.pit.closed:
        raise RuntimeError("no session Pit: run `%load_ext symphony_kernel` first")
    return _session.current


def open_session() -> _session.Session:
    """The kernel's session, opened now if there is none (or its Pit was closed)."""
    current = _session.current
    if current is not None and not current.pit.closed:
        return current
    started = time.perf_counter()
    store, lock = _session.open_store(os.environ.get(STORE_ENV) or None)
    try:
        pit = Pit(store)
    except BaseException:
        if lock is not None:
            lock.close()
        raise
    history = EventFeed(pit)
    history.start()
    adopt(pit, history)  # the views read the session's own history
    opened = _session.Session(pit, store, history, lock, (time.perf_counter() - started) * 1e3)
    _session.current = opened
    set_default_pit(pit)  # Pipelines and workflows run without a Pit use the session's
    opened.stop_watching = watch_runs(show_progress)
    log.info("session Pit ready in %.1f ms (%s)", opened.opened_ms, pit)
    return opened


def show_progress(pit: Pit, workflow: Workflow) -> Callable[[], None] | None:
    """The notebook's run watcher: a ``RunProgress`` bar in the running cell for each
    ``pit.run`` there (none outside a cell, as in a plain script)."""
    from IPython import get_ipython

    ipython = get_ipython()
    if ipython is None or not _in_cell(ipython):
        return None
    from IPython.display import display
    from symphony_widgets import RunProgress

    bar = RunProgress(pit, workflow.name, total=len(workflow))
    display(bar)
    return bar.finish


def card_html(sess: _session.Session) -> str:
    """The short card ``%load_ext`` shows: where the store is, how to look around."""
    where = html.escape(sess.store) if sess.store else "in memory (nothing survives a restart)"
    return (
        '<div style="font-family: var(--jp-ui-font-family, sans-serif); font-size: 13px; '
        'border-left: 4px solid #6a4c93; padding: 4px 10px">'
        f"<b>Symphony Lab</b> · the session's Pit is <code>pit</code> "
        f"(opened in {sess.opened_ms:.0f} ms) · store: <code>{where}</code><br>"
        "<code>%symphony --help</code> lists what to look at: status, pools, runs, artifacts, dag, events, "
        "quest</div>"
    )


class _Card:
    def __init__(self, sess: _session.Session) -> None:
        self._sess = sess

    def _repr_html_(self) -> str:
        return card_html(self._sess)

    def __repr__(self) -> str:
        return f"Symphony Lab: the session's Pit is `pit`, store {self._sess.store or 'in memory'}"


def load_ipython_extension(ipython: Any) -> None:
    """Open the session (once), expose its Pit as ``pit``, register ``%symphony``, show the card
    the first time it is loaded from a cell."""
    sess = _attach(ipython)
    _quiet_repeat_loads(ipython)
    if not sess.shown_card and _in_cell(ipython):
        sess.shown_card = True
        from IPython.display import display

        display(_Card(sess))


def start_in_kernel() -> None:
    """What the Symphony kernel runs as it starts: the session opened and ``pit`` in the
    namespace, without going through ``%load_ext`` (so a notebook's own ``%load_ext
    symphony_kernel`` is its first load, silent but for the card)."""
    from IPython import get_ipython

    ipython = get_ipython()
    if ipython is None:
        raise RuntimeError("start_in_kernel runs inside an IPython kernel")
    _attach(ipython)


def _attach(ipython: Any) -> _session.Session:
    """Open the session (once), put its Pit in the namespace as ``pit`` and register the magics."""
    from symphony_kernel.magics import SymphonyMagics

    sess = open_session()
    ipython.push({"pit": sess.pit})
    ipython.register_magics(SymphonyMagics)
    return sess


def unload_ipython_extension(ipython: Any) -> None:
    """Flush and close the session's Pit (``%unload_ext``); ``%reload_ext`` keeps it."""
    manager = getattr(ipython, "extension_manager", None)
    if getattr(manager, "_symphony_reloading", False):
        for name in RELOADED:
            module = importlib.import_module(name)
            importlib.reload(module)
        return
    sess = _session.current
    if sess is not None:
        _session.current = None
        set_default_pit(None)
        sess.close()
    ipython.user_ns.pop("pit", None)


def _in_cell(ipython: Any) -> bool:
    """Whether a cell is running (the card goes to its output), not the kernel's start-up."""
    return bool(getattr(ipython, "execution_count", 0)) and getattr(ipython, "kernel", None) is not None


def _quiet_repeat_loads(ipython: Any) -> None:
    """Make a second ``%load_ext symphony_kernel`` silent and ``%reload_ext`` keep the Pit.

    IPython prints a reload hint when an extension is loaded twice, and its reload is an unload
    then a load: the manager's two methods are wrapped, for this extension only, once per shell.
    """
    manager = getattr(ipython, "extension_manager", None)
    if manager is None or getattr(manager, "_symphony_wrapped", False):
        return
    load, reload = manager.load_extension, manager.reload_extension

    def load_extension(module_str: str) -> Any:
        if module_str == "symphony_kernel" and module_str in manager.loaded:
            return None  # loaded already: nothing to say
        return load(module_str)

    def reload_extension(module_str: str) -> Any:
        if module_str != "symphony_kernel":
            return reload(module_str)
        manager._symphony_reloading = True
        try:
            return reload(module_str)
        finally:
            manager._symphony_reloading = False

    manager.load_extension, manager.reload_extension = load_extension, reload_extension
    manager._symphony_wrapped = True
