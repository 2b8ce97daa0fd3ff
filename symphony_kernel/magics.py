"""``%symphony`` and ``%%symphony``: look at and drive the session's Pit from a notebook cell.

``%symphony --help`` lists the subcommands; ``%symphony SUBCOMMAND --help`` explains one. Each
subcommand is a thin call into the Python API (``symphony_kernel.tables``, ``pit.run``, ...), so
everything a magic does is also scriptable. A mistake is one readable line and a hint
(IPython's ``UsageError``), never a traceback.
"""

from __future__ import annotations

import ast
import asyncio
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from symphony_pit import PitError, Workflow, WorkflowRun

from symphony_kernel import tables
from symphony_kernel.extension import get_session

Subcommand = Callable[["SymphonyMagics", str, str | None], Any]


@magic_arguments()
def _status(self: SymphonyMagics, line: str, cell: str | None) -> Any:
    """The session's Pit at a glance (its card)."""
    parse_argstring(_status, line)
    return get_session().pit


@magic_arguments()
def _pools(self: SymphonyMagics, line: str, cell: str | None) -> Any:
    """Each pool's capacity and use, per dimension."""
    parse_argstring(_pools, line)
    return tables.pools_table(get_session().pit)


@magic_arguments()
@argument("action", choices=["add", "remove"], help="add or remove a pool")
@argument("name", help="the pool's name")
@argument("--cpu", type=float, help="CPU cores (add)")
@argument("--memory-mb", type=float, dest="memory_mb", help="memory in MB (add)")
@argument("--gpu-memory-mb", type=float, dest="gpu_memory_mb", help="GPU memory in MB (add)")
@argument("--slots", type=int, help="slots (add)")
def _pool(self: SymphonyMagics, line: str, cell: str | None) -> Any:
    """Add a pool (``pool add NAME --cpu N --memory-mb M``) or remove one; shows the pools."""
    args = parse_argstring(_pool, line)
    pit = get_session().pit
    if args.action == "add":
        limits = {k: getattr(args, k) for k in ("cpu", "memory_mb", "gpu_memory_mb", "slots")}
        pit.pools.add_pool(args.name, **{k: v for k, v in limits.items() if v is not None})
    else:
        pit.pools.remove_pool(args.name)
    return tables.pools_table(pit)


@magic_arguments()
@argument("-n", "--limit", type=int, default=50, help="most runs to show (newest)")
def _runs(self: SymphonyMagics, line: str, cell: str | None) -> Any:
    """Workflow runs: status, node counts, times."""
    args = parse_argstring(_runs, line)
    return tables.runs_table(get_session().pit, _positive(args.limit, "--limit"))


@magic_arguments()
@argument("--tag", help="only artifacts with this tag")
@argument("--stale", action="store_true", help="only those the stale policy would clean up")
@argument("-n", "--limit", type=int, default=200, help="most artifacts to show (newest)")
def _artifacts(self: SymphonyMagics, line: str, cell: str | None) -> Any:
    """Stored artifacts: id, size, type, tags, producer, value score."""
    args = parse_argstring(_artifacts, line)
    return tables.artifacts_table(get_session().pit, args.tag, args.stale, _positive(args.limit, "--limit"))


@magic_arguments()
@argument("run", help="a run id, or a variable holding a run or a workflow")
@argument("--table", action="store_true", help="the run's nodes as a table (state, attempts, error, duration)")
def _dag(self: SymphonyMagics, line: str, cell: str | None) -> Any:
    """A run's DAG, drawn live (a DagView); ``--table`` for its nodes as a table instead."""
    args = parse_argstring(_dag, line)
    pit = get_session().pit
    target = self.shell.user_ns.get(args.run) if self.shell is not None else None
    from symphony_widgets import DagView

    if isinstance(target, Workflow):
        return DagView(target, pit)
    run_id = target.run_id if isinstance(target, WorkflowRun) else args.run
    if not isinstance(run_id, str):
        raise UsageError(f"{args.run!r} holds a {type(target).__name__}, not a run or a workflow")
    return tables.run_nodes_table(pit, run_id) if args.table else DagView(run_id, pit)


@magic_arguments()
@argument("-n", "--limit", type=int, default=100, help="how many of the newest events")
def _events(self: SymphonyMagics, line: str, cell: str | None) -> Any:
    """The newest events, from the session's history (``pit.poll_events()`` still gets them)."""
    args = parse_argstring(_events, line)
    return tables.events_table(get_session().history.latest(_positive(args.limit, "--limit")))


@magic_arguments()
def _info(self: SymphonyMagics, line: str, cell: str | None) -> Any:
    """Versions, the machine, the session's store, as a table."""
    parse_argstring(_info, line)
    import pandas as pd
    from symphony_pit import system_info

    sess = get_session()
    facts: dict[str, Any] = {}
    for key, value in system_info().items():
        if isinstance(value, dict):
            facts.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            facts[key] = value
    facts.update({"store": sess.store or "in memory", "session opened in (ms)": round(sess.opened_ms, 1)})
    frame = pd.DataFrame({"what": list(facts), "value": [str(v) for v in facts.values()]})
    return tables.Table(frame, caption="Symphony Lab")


@magic_arguments()
@argument("name", help="the variable the workflow is kept in")
def _workflow(self: SymphonyMagics, line: str, cell: str | None) -> Any:
    """Define a workflow from YAML in the cell (``%%symphony workflow NAME``).

    Each node names a built-in kind with its settings, or ``call:`` a function of the notebook::

        inputs: [n]
        nodes:
          numbers: {call: load, inputs: [n]}
          total: {kind: calculator, operation: sum, inputs: [numbers]}
        outputs: [total]
    """
    args = parse_argstring(_workflow, line)
    if cell is None:
        raise UsageError("`workflow` takes the cell: write `%%symphony workflow NAME` on the cell's first line")
    workflow = workflow_from_yaml(args.name, cell, self.shell.user_ns if self.shell is not None else {})
    if self.shell is not None:
        self.shell.user_ns[args.name] = workflow
    return workflow


@magic_arguments()
@argument("name", help="a variable holding a workflow")
@argument("inputs", nargs="*", help="inputs as NAME=VALUE (Python literals: 3, 'text', [1, 2])")
@argument("--async", action="store_true", dest="background", help="start it and return an asyncio task")
@argument("--no-cache", action="store_true", help="run every node again (no memoised results)")
def _run(self: SymphonyMagics, line: str, cell: str | None) -> Any:
    """Run a workflow on the session's Pit: ``run NAME [n=10 ...] [--async]``."""
    args = parse_argstring(_run, line)
    workflow = self.shell.user_ns.get(args.name) if self.shell is not None else None
    if not isinstance(workflow, Workflow):
        raise UsageError(f"no workflow named {args.name!r} (define one with `%%symphony workflow {args.name}`)")
    inputs = dict(_literal_input(item) for item in args.inputs)
    pit = get_session().pit
    if args.background:
        return asyncio.ensure_future(pit.run_async(workflow, inputs, cache=not args.no_cache))
    return pit.run(workflow, inputs, cache=not args.no_cache)


@magic_arguments()
@argument("level", nargs="?", help="a campaign level's id or a level file")
@argument("--band", type=int, help="a generated level of this band (1 to 20)")
@argument("--seed", type=int, default=0, help="the generated level's seed")
def _quest(self: SymphonyMagics, line: str, cell: str | None) -> Any:
    """Play a Function Quest level (a QuestPlayer): a campaign one by id, a file, or generated."""
    args = parse_argstring(_quest, line)
    import function_quest
    from symphony_widgets import QuestPlayer

    if args.band is not None:
        return QuestPlayer(function_quest.generate(args.seed, args.band))
    if args.level is None:
        ids = ", ".join(level.id for level in function_quest.campaign()[:5])
        raise UsageError(f"name a level (e.g. {ids}, ...) or give --band B")
    return QuestPlayer(function_quest.load_level(args.level))


SUBCOMMANDS: dict[str, Subcommand] = {
    "status": _status,
    "pools": _pools,
    "pool": _pool,
    "runs": _runs,
    "artifacts": _artifacts,
    "dag": _dag,
    "events": _events,
    "info": _info,
    "workflow": _workflow,
    "run": _run,
    "quest": _quest,
}
for _name, _command in SUBCOMMANDS.items():
    _command.parser.prog = f"symphony {_name}"  # type: ignore[attr-defined]  # shown as %symphony NAME


def help_text() -> str:
    """What ``%symphony --help`` prints: each subcommand and its first line."""
    width = max(map(len, SUBCOMMANDS))
    lines = ["%symphony SUBCOMMAND [--help] — look at and drive the session's Pit", ""]
    for name, command in SUBCOMMANDS.items():
        summary = (command.parser.description or "").strip().splitlines()[0]  # type: ignore[attr-defined]
        lines.append(f"  {name.ljust(width)}  {summary}")
    return "\n".join(lines)


def workflow_from_yaml(name: str, text: str, namespace: dict[str, Any]) -> Workflow:
    """A workflow from the YAML of a ``%%symphony workflow`` cell; ``call:`` names a function of
    ``namespace`` (nothing is imported or evaluated).

    >>> wf = workflow_from_yaml("w", "nodes:\\n  one: {kind: constant, value: 1}", {})
    >>> [n for n in wf.nodes]
    ['one']
    """
    import yaml

    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UsageError(f"the cell is not YAML: {e}".splitlines()[0]) from None
    if not isinstance(spec, dict) or not isinstance(spec.get("nodes"), dict) or not spec["nodes"]:
        raise UsageError("the cell must be a YAML mapping with `nodes:` (a mapping of node names)")
    unknown = set(spec) - {"inputs", "nodes", "outputs", "description"}
    if unknown:
        raise UsageError(f"unknown key(s) {sorted(unknown)}; a workflow has inputs, nodes, outputs, description")
    workflow = Workflow(name, inputs=list(spec.get("inputs") or []), description=spec.get("description"))
    for node, entry in spec["nodes"].items():
        if not isinstance(entry, dict):
            raise UsageError(f"node {node!r} must be a mapping (kind: ... or call: ...)")
        entry = dict(entry)
        call, kind = entry.pop("call", None), entry.pop("kind", None)
        if (call is None) == (kind is None):
            raise UsageError(f"node {node!r} needs exactly one of `kind:` (a built-in) or `call:` (a function)")
        if call is not None:
            body = namespace.get(str(call))
            if not callable(body):
                raise UsageError(f"node {node!r} calls {call!r}, which is not a function of the notebook")
        else:
            body = kind
        workflow.add_node(str(node), body, **entry)
    if spec.get("outputs"):
        workflow.set_outputs(*spec["outputs"])
    workflow.compile()  # the Pit's own checks (cycles, unknown inputs, bad settings), now
    return workflow


def _literal_input(item: str) -> tuple[str, Any]:
    name, sep, text = item.partition("=")
    if not sep or not name.isidentifier():
        raise UsageError(f"an input is NAME=VALUE, got {item!r}")
    try:
        return name, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise UsageError(f"input {name}: {text!r} is not a Python literal (quote text: {name}='...')") from None


def _positive(n: int, flag: str) -> int:
    if n < 1:
        raise UsageError(f"{flag} must be at least 1, got {n}")
    return n


@magics_class
class SymphonyMagics(Magics):
    """``%symphony SUBCOMMAND ...`` and ``%%symphony workflow NAME``."""

    @line_cell_magic
    def symphony(self, line: str, cell: str | None = None) -> Any:
        """Look at and drive the session's Pit; ``%symphony --help`` lists the subcommands."""
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"cannot read the line: {e}") from None
        if not words or words[0] in ("-h", "--help", "help"):
            print(help_text())
            return None
        name, rest = words[0], line.strip()[len(words[0]) :].strip()
        command = SUBCOMMANDS.get(name)
        if command is None:
            raise UsageError(f"unknown subcommand {name!r}; `%symphony --help` lists them")
        if cell is not None and name != "workflow":
            raise UsageError(f"`{name}` is a line magic: write `%symphony {name}` (one %)")
        if "-h" in words[1:] or "--help" in words[1:]:
            print(command.parser.format_help())  # type: ignore[attr-defined]
            return None
        try:
            return command(self, rest, cell)
        except UsageError:
            raise
        except (PitError, RuntimeError, KeyError, ValueError, TypeError) as e:
            hint = "" if isinstance(e, PitError) else f" ({type(e).__name__})"
            message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
            raise UsageError(f"{message}{hint} — `%symphony {name} --help` for usage") from None
