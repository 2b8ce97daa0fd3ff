"""`Pit`: the native engine plus running workflows, resuming them and event handlers."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from symphony_pit import _native
from symphony_pit._native import Arbiter, ArtifactStore, CancelToken, DagTracker, Event, PoolManager
from symphony_pit.errors import NotFound, ValidationError
from symphony_pit.runs import WorkflowRun
from symphony_pit.stale import CleanupReport, StaleManager, StalePolicy
from symphony_pit.workflow import Workflow

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("symphony_pit.handlers")

#: Runs kept for `resume` and `metrics` in one process (oldest dropped first) ...
RUN_HISTORY = 1000
#: ... and the most nodes they may hold in all (the newest run is always kept): each keeps its
#: node reports and results, so a loop of big workflows must not keep a thousand of them.
RUN_HISTORY_NODES = _native.HISTORY_NODES

Handler = Callable[[Event], Any]


@runtime_checkable
class HasWorkflow(Protocol):
    """Anything that carries a `Workflow` as ``.workflow`` (a `Pipeline`, a user's own builder):
    `Pit.run` runs it."""

    @property
    def workflow(self) -> Workflow: ...


#: A run this process made: its workflow, inputs, the run, and its node count (a plain tuple:
#: one is made per run, and a class's ``__init__`` costs a Python call each time).
_RunRecord = tuple[Workflow, dict[str, Any], WorkflowRun, int]


def _event_names(event: Event) -> list[str]:
    """Names an event answers to: its kind, and for state changes ``node.<state>`` /
    ``run.<status>`` (so ``@pit.on("node.failed")`` works)."""
    names = [event.kind]
    if event.kind in ("node.state", "run.status"):
        to = event.data.get("to")
        if to:
            names.append(f"{event.kind.split('.')[0]}.{to}")
    return names


class Pit:
    """The Pit: Pool Manager, Artifact Store, DAG Tracker and workflow runner in this process.

    >>> pit = Pit()                      # in memory; Pit("~/.symphony") persists
    >>> wf = Workflow("hello")
    >>> _ = wf.add_node("greet", "constant", value="hi")
    >>> pit.run(wf).outputs
    {'greet': 'hi'}

    ``store`` is a directory (created if missing; ``~`` expands); ``hot_cache_mb`` bounds the
    in-memory copy of a store's blobs; ``durability="sync"`` writes before each put returns
    (default: behind the call, `flush` waits); ``event_capacity`` bounds the event log;
    ``recover=True`` opens a damaged store anyway (README: Durability and failure). The engine
    itself is the native `symphony_pit._native.Pit` this object holds; its components are
    `pools`, `artifacts`, `dags` and `arbiter`.
    """

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        *,
        hot_cache_mb: float = 256.0,
        durability: Literal["background", "sync"] = "background",
        event_capacity: int = 100_000,
        recover: bool = False,
    ) -> None:
        self._native = _native.Pit(
            store,
            hot_cache_mb=hot_cache_mb,
            durability=durability,
            event_capacity=event_capacity,
            recover=recover,
        )
        self._handlers: list[tuple[str, Handler]] = []
        self._runs: OrderedDict[str, _RunRecord] = OrderedDict()
        self._run_nodes = 0
        self._stale: StaleManager | None = None

    # -- the engine's components and state ------------------------------------------------

    @property
    def pools(self) -> PoolManager:
        """The Pool Manager: pools, model allocation, runtimes."""
        return self._native.pools

    @property
    def artifacts(self) -> ArtifactStore:
        """The Artifact Store: content-addressed results with lineage."""
        return self._native.artifacts

    @property
    def dags(self) -> DagTracker:
        """The DAG Tracker: workflow graphs and runs."""
        return self._native.dags

    @property
    def arbiter(self) -> Arbiter:
        """Arbitration: who gets a pool's capacity when requests collide."""
        return self._native.arbiter

    @property
    def store(self) -> str | None:
        """The store directory, or None for an in-memory Pit."""
        return self._native.store

    @property
    def closed(self) -> bool:
        return self._native.closed

    @property
    def memo_entries(self) -> int:
        """Memoised node results known to this Pit."""
        return self._native.memo_entries

    @property
    def events_pending(self) -> int:
        """Events waiting to be polled."""
        return self._native.events_pending

    @property
    def events_dropped(self) -> int:
        """Events discarded because nobody polled them in time."""
        return self._native.events_dropped

    def poll_events(self, max: int = 1000) -> list[Event]:
        """Remove and return up to ``max`` of the oldest events, in order."""
        return self._native.poll_events(max)

    def read_events(self, after: int = 0, max: int = 1000) -> list[Event]:
        """Up to ``max`` of the events numbered after ``after`` (their ``seq``), oldest first,
        without taking them: ``poll_events`` still returns them. A reader that must not take
        events from the user (a notebook view) keeps the last ``seq`` it saw and asks again;
        events the stream dropped (it is bounded) or a poll took meanwhile are not there.

        >>> pit = Pit()
        >>> _ = pit.artifacts.put(b"x")
        >>> [e.kind for e in pit.read_events()] == [e.kind for e in pit.poll_events()]
        True
        """
        return self._native.read_events(after, max)

    def flush(self) -> None:
        """Wait until every write so far is on disk (an error since the last flush is raised)."""
        self._native.flush()

    def __repr__(self) -> str:
        return repr(self._native)

    def _repr_html_(self) -> str:
        from symphony_pit._html import pit_html

        return pit_html(self)

    # -- stale manager ---------------------------------------------------------------------

    @property
    def stale(self) -> StaleManager:
        """The Stale Manager: its policy, `cleanup`, and a periodic sweeper (`start`)."""
        if self._stale is None:
            self._stale = StaleManager(self)
        return self._stale

    def cleanup(self, *, dry_run: bool = False, policy: StalePolicy | None = None) -> CleanupReport:
        """Keep, archive or delete artifacts and release idle models under ``policy`` (default
        `pit.stale.policy`). ``dry_run=True`` reports what would go and touches nothing."""
        return self.stale.cleanup(dry_run=dry_run, policy=policy)

    def close(self) -> None:
        """Stop the Stale Manager's sweeper, flush, and close the store."""
        if self._stale is not None:
            self._stale.stop()
        self._native.close()

    def __enter__(self) -> Pit:
        return self

    def __exit__(self, *_exc: object) -> Literal[False]:
        self.close()
        return False

    # -- running ---------------------------------------------------------------------------

    def run(
        self,
        workflow: Workflow | HasWorkflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        cache: bool = True,
        concurrency: Mapping[str, int] | None = None,
        cancel: CancelToken | None = None,
        tenant: str | None = None,
        raise_on_failure: bool = True,
        _reuse: Mapping[str, str] | None = None,
        _resumed_from: str | None = None,
    ) -> WorkflowRun:
        """Run `workflow` to the end and return the run.

        ``inputs`` gives each workflow input a value. ``cache=False`` recomputes every node
        (memoised results are otherwise reused when a node's code and inputs are unchanged).
        ``concurrency`` sets slots per pool (default 1; nodes of pools with more slots run on
        worker threads, in parallel when they release the GIL); in a pool of the Pool Manager
        the pool's capacity decides instead, through the Arbiter, shared with every concurrent
        run (``tenant`` names who the run is for, default the workflow's name, for
        fairness). A node failure re-raises the
        node's original exception (``raise_on_failure=False`` returns the failed run instead);
        Ctrl-C cancels the run and raises KeyboardInterrupt once it has ended Cancelled.
        """
        wf = workflow if isinstance(workflow, Workflow) else getattr(workflow, "workflow", None)
        if not isinstance(wf, Workflow):
            raise ValidationError(
                f"Pit.run needs a Workflow or Pipeline, got {type(workflow).__name__} "
                "(anything with a .workflow attribute runs too)"
            )
        # Kept lean: a run of built-in nodes takes ~0.1 ms, so each step here shows.
        _, compiled, callables, names = wf._compile()
        given = dict(inputs) if inputs else {}
        if given or names:
            missing = [name for name in names if name not in given]
            unknown = sorted(set(given) - set(names)) if len(given) != len(names) - len(missing) else []
            if missing or unknown:
                parts = []
                if missing:
                    parts.append(f"missing {missing}")
                if unknown:
                    parts.append(f"unknown {unknown}")
                raise ValidationError(f"workflow '{wf.name}' takes inputs {list(names)}: " + ", ".join(parts))
        values = [given[name] for name in names] if names else []
        watching = [watcher(self, wf) for watcher in _run_watchers] if _run_watchers else None
        try:
            report = self._execute(compiled, callables, values, cache, concurrency, cancel, _reuse, tenant)
        finally:
            for done in watching or ():
                if done is not None:
                    done()
        run = WorkflowRun(report, resumed_from=_resumed_from)
        self._remember(report.run_id, (wf, given, run, len(wf)))
        if self._handlers:
            self.dispatch_events()
        if report.interrupted:
            raise KeyboardInterrupt(f"workflow run '{run.run_id}' was cancelled")
        if raise_on_failure and report.status == "failed":
            run.raise_for_status()
        return run

    def _execute(
        self,
        compiled: Any,
        callables: Any,
        values: list[Any],
        cache: bool,
        concurrency: Mapping[str, int] | None,
        cancel: CancelToken | None,
        reuse: Mapping[str, str] | None,
        tenant: str | None,
    ) -> Any:
        if concurrency or cancel is not None or reuse or tenant is not None:
            return self._native._execute(
                compiled,
                callables,
                values,
                cache=cache,
                concurrency=dict(concurrency) if concurrency else None,
                cancel=cancel,
                reuse=dict(reuse) if reuse else None,
                tenant=tenant,
            )
        return self._native._execute(compiled, callables, values, cache=cache)

    async def run_async(
        self,
        workflow: Workflow | HasWorkflow,
        inputs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> WorkflowRun:
        """`run` without blocking the event loop; cancelling the awaiting task cancels the run
        (it ends Cancelled before the CancelledError propagates)."""
        token = CancelToken()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, lambda: self.run(workflow, inputs, cancel=token, **options))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            token.cancel()
            with contextlib.suppress(Exception):
                await future
            raise

    def resume(
        self,
        run_id: str,
        *,
        workflow: Workflow | None = None,
        inputs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> WorkflowRun:
        """Run a failed (or cancelled) run again, re-executing only the nodes that did not
        succeed; the others are served from the store. Runs of this process are found by id;
        for a run recorded by an earlier process, pass its ``workflow`` and ``inputs``."""
        record = self._runs.get(run_id)
        if record is None and workflow is None:
            raise NotFound(f"run '{run_id}' was not started by this Pit; pass workflow= (and inputs=) to resume it")
        wf = workflow or (record[0] if record else None)
        assert wf is not None
        given = dict(inputs) if inputs is not None else (record[1] if record else {})
        reuse = self.dags.succeeded_outputs(run_id)
        return self.run(wf, given, _reuse=reuse, _resumed_from=run_id, **options)

    def _remember(self, run_id: str, record: _RunRecord) -> None:
        runs = self._runs
        runs[run_id] = record
        self._run_nodes += record[3]
        while len(runs) > 1 and (len(runs) > RUN_HISTORY or self._run_nodes > RUN_HISTORY_NODES):
            _, oldest = runs.popitem(last=False)
            self._run_nodes -= oldest[3]

    @property
    def workflow_runs(self) -> list[WorkflowRun]:
        """Workflow runs of this process, oldest first (the last 1000, fewer when they hold
        more than 100,000 nodes in all)."""
        return [run for _, _, run, _ in self._runs.values()]

    def metrics(self) -> pd.DataFrame:
        """Per workflow: runs by status, nodes executed / cached / failed, and latency and
        queue-wait quantiles (seconds), over this process's runs."""
        import pandas as pd

        frames = []
        for _, _, run, _ in self._runs.values():
            frame = run.metrics().reset_index()
            frame["workflow"] = run.workflow
            frame["run_id"] = run.run_id
            frame["run_status"] = run.status
            frames.append(frame)
        if not frames:
            return pd.DataFrame()
        nodes = pd.concat(frames, ignore_index=True)
        grouped = nodes.groupby("workflow")
        summary = pd.DataFrame(
            {
                "runs": grouped["run_id"].nunique(),
                "completed": nodes[nodes.run_status == "completed"].groupby("workflow")["run_id"].nunique(),
                "failed": nodes[nodes.run_status == "failed"].groupby("workflow")["run_id"].nunique(),
                "nodes_run": grouped.size(),
                "cached": grouped["cached"].sum(),
                "node_failures": nodes[nodes.state == "failed"].groupby("workflow").size(),
                "latency_p50": grouped["latency"].quantile(0.5),
                "latency_p95": grouped["latency"].quantile(0.95),
                "queue_wait_p50": grouped["queue_wait"].quantile(0.5),
                "queue_wait_p95": grouped["queue_wait"].quantile(0.95),
            }
        )
        counts = ["completed", "failed", "node_failures"]
        summary[counts] = summary[counts].fillna(0).astype(int)
        return summary

    # -- events ----------------------------------------------------------------------------

    def on(self, pattern: str, handler: Handler | None = None) -> Any:
        """Call ``handler(event)`` for every event matching ``pattern`` (a kind such as
        ``"artifact.stored"``, ``"node.failed"``, ``"run.completed"``, or a glob ``"pool.*"``).

        Used as a decorator (``@pit.on("node.failed")``) or called directly. Handlers run when
        events are dispatched: after each `run`, and whenever `dispatch_events` is called (the
        Jupyter extension does so on a timer). A handler that raises is logged, never fatal.
        """
        if not isinstance(pattern, str) or not pattern:
            raise ValidationError("an event pattern must be a non-empty str")

        def register(fn: Handler) -> Handler:
            if not callable(fn):
                raise ValidationError(f"an event handler must be callable, got {type(fn).__name__}")
            self._handlers.append((pattern, fn))
            return fn

        return register(handler) if handler is not None else register

    def off(self, handler: Handler) -> None:
        """Remove every registration of `handler`."""
        self._handlers = [(p, h) for p, h in self._handlers if h is not handler]

    def dispatch_events(self, max: int = 100_000) -> list[Event]:
        """Drain the event stream, call matching handlers, and return the events."""
        events = self.poll_events(max)
        for event in events:
            names = _event_names(event)
            for pattern, handler in self._handlers:
                if any(fnmatch.fnmatchcase(name, pattern) for name in names):
                    try:
                        handler(event)
                    except Exception:
                        log.exception("event handler %r failed on %r", handler, event)
        return events


RunWatcher = Callable[["Pit", "Workflow"], "Callable[[], None] | None"]
_run_watchers: list[RunWatcher] = []


def watch_runs(watcher: RunWatcher) -> Callable[[], None]:
    """Call ``watcher(pit, workflow)`` as each ``Pit.run`` starts, on the calling thread, and the
    function it returns (if any) when the run ends, however it ends. Returns the function that
    stops watching. The notebook layer shows a progress bar this way; nothing watches by default.

    >>> seen = []
    >>> stop = watch_runs(lambda pit, wf: seen.append(wf.name) or None)
    >>> wf = Workflow("watched")
    >>> _ = wf.add_node("one", "constant", value=1)
    >>> _ = Pit().run(wf)
    >>> stop(); seen
    ['watched']
    """
    _run_watchers.append(watcher)

    def stop() -> None:
        if watcher in _run_watchers:
            _run_watchers.remove(watcher)

    return stop


_default_pit: Pit | None = None


def default_pit() -> Pit:
    """The process-wide Pit used when none is given (the Jupyter extension installs the
    session's Pit here; otherwise an in-memory Pit is created on first use)."""
    global _default_pit
    if _default_pit is None:
        _default_pit = Pit()
    return _default_pit


def set_default_pit(pit: Pit | None) -> None:
    """Make `pit` the process-wide default (None forgets it)."""
    global _default_pit
    _default_pit = pit
