"""Workflows built in Python, run by the Pit.

>>> from symphony_pit import Pit, Workflow
>>> wf = Workflow("etl")
>>> @wf.node
... def load(n):                      # `n` is no node: it becomes a workflow input
...     return list(range(n))
>>> @wf.node(retries=2, pool="cpu", priority="high")
... def clean(load):                  # dependencies by parameter name
...     return [x for x in load if x % 2 == 0]
>>> _ = wf.add_node("total", "calculator", operation="sum", inputs=["clean"])
>>> Pit().run(wf, inputs={"n": 10}).outputs
{'total': 20}

A workflow serialises to a versioned JSON manifest (`to_manifest`, schema in
`symphony_pit/schemas/workflow-v1.schema.json`); `Workflow.from_manifest` reads one back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, overload

from symphony_pit._native import (
    BUILTIN_KINDS,
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    RESOURCE_DIMENSIONS,
    CompiledWorkflow,
)
from symphony_pit.errors import ValidationError

SCHEMA_PATH = Path(__file__).with_name("schemas") / "workflow-v1.schema.json"

#: Named priorities (higher runs first among ready nodes).
PRIORITIES = {"critical": 1000, "high": 500, "normal": 0, "low": -500, "background": -1000}


def manifest_schema() -> dict[str, Any]:
    """The published JSON Schema of workflow manifests (version 1)."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


def code_hash(fn: Callable[..., Any]) -> str | None:
    """A hash of what `fn` computes: its source (or bytecode), defaults and closure values.

    Two callables with the same hash are assumed to compute the same thing from the same inputs;
    memoisation relies on it. Globals a function reads are not part of the hash — mark such nodes
    ``cache=False``. Returns None when nothing stable can be hashed (a builtin, say).
    """
    h = hashlib.blake2b(digest_size=16)
    target: Any = fn
    while hasattr(target, "func") and hasattr(target, "args"):  # functools.partial
        h.update(repr((target.args, sorted(target.keywords.items()))).encode())
        target = target.func
    code = getattr(target, "__code__", None)
    if code is None:
        # A callable object: hash its class's __call__.
        code = getattr(type(target).__call__, "__code__", None)
        if code is None:
            return None
    try:
        h.update(inspect.getsource(target).encode())
    except (OSError, TypeError):
        h.update(code.co_code)
        h.update(repr(code.co_consts).encode())
        h.update(repr(code.co_names).encode())
    h.update(repr(getattr(target, "__defaults__", None)).encode())
    closure = getattr(target, "__closure__", None) or ()
    for cell in closure:
        try:
            h.update(repr(cell.cell_contents).encode())
        except ValueError:  # an empty cell
            h.update(b"<empty>")
    return h.hexdigest()


def _callable_path(fn: Callable[..., Any]) -> str | None:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    return f"{module}:{qualname}"


#: A callable path: a dotted module name, a colon, a dotted attribute path (``pkg.mod:Class.fn``).
_CALLABLE_PATH = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
)


def _copy(node: Node) -> Node:
    """A node whose containers are its own (a frozen node's list or dict can still be changed)."""
    return dataclasses.replace(
        node,
        inputs=list(node.inputs),
        config=dict(node.config),
        backoff=None if node.backoff is None else dict(node.backoff),
        resources=None if node.resources is None else dict(node.resources),
        fallback=dict(node.fallback) if isinstance(node.fallback, dict) else node.fallback,
    )


def _given_resources(resources: Mapping[str, float] | None) -> dict[str, float] | None:
    """A node's resources as its author gave them: the Pit's canonical form lists every
    dimension, the ones not given as 0."""
    if not resources:
        return None if resources is None else {}
    given = {dim: amount for dim, amount in resources.items() if amount}
    return given or dict(resources)


def _check_path(path: object, what: str) -> str:
    if not isinstance(path, str) or not _CALLABLE_PATH.fullmatch(path):
        shown = repr(path) if isinstance(path, str) and len(path) <= 200 else type(path).__name__
        raise ValidationError(f"{what}: callable must be a path like 'package.module:function', got {shown}")
    return path


def _attribute(target: Any, qualname: str, path: str) -> Callable[..., Any]:
    try:
        for part in qualname.split("."):
            target = getattr(target, part)
    except AttributeError as e:
        raise ValidationError(f"cannot find callable {path!r}: {e}") from None
    if not callable(target):
        raise ValidationError(f"{path!r} is not callable")
    return target  # type: ignore[no-any-return]


def _import_callable(path: str) -> Callable[..., Any]:
    """Import `path`'s module (running its code) and find the callable in it."""
    module_name, _, qualname = _check_path(path, "callable").partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValidationError(f"cannot import callable {path!r}: {e}") from e
    return _attribute(module, qualname, path)


class _Resolver:
    """Where a manifest's Python nodes get their functions: explicit ones by node name, then a
    namespace by path, then (only when trusted) an import."""

    def __init__(
        self,
        by_node: dict[str, Callable[..., Any]],
        namespace: Mapping[str, Callable[..., Any]] | ModuleType | Iterable[ModuleType] | None,
        trusted: bool,
    ) -> None:
        self.by_node = by_node
        self.by_path: Mapping[str, Callable[..., Any]] = {}
        self.modules: dict[str, ModuleType] = {}
        if isinstance(namespace, ModuleType):
            self.modules[namespace.__name__] = namespace
        elif isinstance(namespace, Mapping):
            self.by_path = namespace
        elif namespace is not None:
            for module in namespace:  # type: ignore[union-attr]  # a module was taken above
                if not isinstance(module, ModuleType):
                    raise ValidationError(
                        f"namespace must be a mapping of paths to callables or modules, got {type(module).__name__}"
                    )
                self.modules[module.__name__] = module
        self.trusted = trusted

    def resolve(self, name: str, body: Mapping[str, Any]) -> Callable[..., Any]:
        given = self.by_node.get(name)
        if given is not None:
            return given
        path = body.get("callable")
        if not path:
            raise ValidationError(f"python node '{name}' has no callable path; pass callables={{'{name}': fn}}")
        path = _check_path(path, f"python node '{name}'")
        if path in self.by_path:
            return self.by_path[path]
        module_name, _, qualname = path.partition(":")
        if module_name in self.modules:
            return _attribute(self.modules[module_name], qualname, path)
        if self.trusted:
            return _import_callable(path)
        raise ValidationError(
            f"python node '{name}' names callable {path!r}, and loading a manifest imports nothing by "
            f"default; pass callables={{'{name}': fn}}, namespace= (a mapping of paths, or modules you "
            "imported), or trusted=True for a manifest you wrote yourself"
        )


def _resources(node: str, resources: Mapping[str, float] | None) -> dict[str, float] | None:
    if resources is None:
        return None
    if not isinstance(resources, Mapping):
        raise ValidationError(f"node '{node}': resources must be a dict like {{'slots': 1}}, got {resources!r}")
    out: dict[str, float] = {}
    for dim, amount in resources.items():
        if dim not in RESOURCE_DIMENSIONS:
            raise ValidationError(f"node '{node}': unknown resource {dim!r} (use {', '.join(RESOURCE_DIMENSIONS)})")
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not amount >= 0:
            raise ValidationError(f"node '{node}': resources[{dim!r}] must be a number >= 0, got {amount!r}")
        out[dim] = float(amount)
    return out


def _priority(value: int | str) -> int:
    if isinstance(value, str):
        try:
            return PRIORITIES[value.lower()]
        except KeyError:
            raise ValidationError(
                f"priority {value!r} is unknown (use one of {', '.join(PRIORITIES)} or an int)"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"priority must be a name or an int, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Backoff:
    """Wait before retry *n*: ``delay`` (constant), ``delay·n`` (linear) or ``delay·2ⁿ⁻¹``
    (exponential), never more than ``max_delay`` seconds."""

    delay: float = 0.0
    strategy: str = "constant"
    max_delay: float = 60.0

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "delay": self.delay, "max_delay": self.max_delay}


def _backoff(value: Backoff | float | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, Backoff):
        return value.to_dict()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Backoff(float(value)).to_dict()
    if isinstance(value, Mapping):
        return dict(value)
    raise ValidationError(f"backoff must be a Backoff, seconds or a dict, got {type(value).__name__}")


@dataclass(frozen=True)
class Node:
    """One node of a workflow: what runs (a Python callable, a built-in Rust node or a
    sub-workflow), what it takes, and its policies.

    Frozen, and handed out as a copy (`Workflow.nodes`): a workflow changes only through its
    methods, so its compiled form can never be stale. Build a changed workflow with
    `add_node` instead.
    """

    name: str
    kind: str
    inputs: list[str]
    fn: Callable[..., Any] | None = None
    workflow: Workflow | None = None
    config: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    backoff: dict[str, Any] | None = None
    timeout: float | None = None
    pool: str = "default"
    priority: int = 0
    fallback: Callable[..., Any] | dict[str, Any] | None = None
    cache: bool = True
    resources: dict[str, float] | None = None

    def _body(self) -> dict[str, Any]:
        if self.kind == "python":
            assert self.fn is not None
            return _python_body(self.fn)
        if self.kind == "workflow":
            assert self.workflow is not None
            return {"kind": "workflow", "workflow": self.workflow.to_manifest()}
        return {"kind": self.kind, "config": dict(self.config)} if self.config else {"kind": self.kind}

    def to_manifest(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, **self._body(), "inputs": list(self.inputs)}
        if self.retries:
            entry["retries"] = self.retries
        if self.backoff:
            entry["backoff"] = self.backoff
        if self.timeout is not None:
            entry["timeout"] = self.timeout
        if self.pool != "default":
            entry["pool"] = self.pool
        if self.priority:
            entry["priority"] = self.priority
        if self.fallback is not None:
            entry["fallback"] = _fallback_body(self.fallback)
        if not self.cache:
            entry["cache"] = False
        if self.resources is not None:
            entry["resources"] = dict(self.resources)
        return entry


def _python_body(fn: Callable[..., Any]) -> dict[str, Any]:
    """A python body: where the callable lives (when importable) and its code hash."""
    body: dict[str, Any] = {"kind": "python"}
    path = _callable_path(fn)
    if path:
        body["callable"] = path
    digest = code_hash(fn)
    if digest:
        body["code_hash"] = digest
    return body


def _fallback_body(fallback: Callable[..., Any] | Mapping[str, Any]) -> dict[str, Any]:
    if callable(fallback):
        return _python_body(fallback)
    spec = dict(fallback)
    kind = spec.pop("kind", None)
    if kind not in BUILTIN_KINDS:
        raise ValidationError(
            f"a fallback is a callable or a built-in node {{'kind': ..., settings}}; got kind {kind!r}"
        )
    return {"kind": kind, "config": spec} if spec else {"kind": kind}


class Workflow:
    """A DAG of nodes built in Python and run by the Pit (`Pit.run`).

    Nodes come from the `node` decorator (dependencies by parameter name) or `add_node`
    (built-in Rust nodes, sub-workflows, callables with explicit inputs). A name a node takes that
    is no node becomes a workflow input, given to `Pit.run(wf, inputs={...})`.
    """

    def __init__(self, name: str, *, inputs: Sequence[str] = (), description: str | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValidationError("a workflow needs a non-empty str name")
        self.name = name
        self.description = description
        self._declared_inputs = list(inputs)
        self._nodes: dict[str, Node] = {}
        self._outputs: list[str] = []
        self._changes = 0
        self._subworkflows: list[Workflow] = []
        self._compiled: tuple[tuple[Any, ...], CompiledWorkflow, list[Callable[..., Any]], tuple[str, ...]] | None = (
            None
        )

    # -- building --------------------------------------------------------------------------

    @overload
    def node(self, fn: Callable[..., Any], /) -> Callable[..., Any]: ...

    @overload
    def node(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        inputs: Sequence[str] | None = None,
        retries: int = 0,
        backoff: Backoff | float | Mapping[str, Any] | None = None,
        timeout: float | None = None,
        pool: str = "default",
        priority: int | str = "normal",
        fallback: Callable[..., Any] | Mapping[str, Any] | None = None,
        cache: bool = True,
        resources: Mapping[str, float] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...

    def node(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        inputs: Sequence[str] | None = None,
        retries: int = 0,
        backoff: Backoff | float | Mapping[str, Any] | None = None,
        timeout: float | None = None,
        pool: str = "default",
        priority: int | str = "normal",
        fallback: Callable[..., Any] | Mapping[str, Any] | None = None,
        cache: bool = True,
        resources: Mapping[str, float] | None = None,
    ) -> Any:
        """Add a Python function as a node (used bare, ``@wf.node``, or with options).

        Its parameters name what it takes — other nodes or workflow inputs — unless ``inputs``
        says otherwise. The function is returned unchanged, so it stays callable on its own.
        """

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            self.add_node(
                name or getattr(f, "__name__", None) or "node",
                f,
                inputs=inputs,
                retries=retries,
                backoff=backoff,
                timeout=timeout,
                pool=pool,
                priority=priority,
                fallback=fallback,
                cache=cache,
                resources=resources,
            )
            return f

        if fn is not None:
            return register(fn)
        return register

    def add_node(
        self,
        name: str,
        kind: str | Callable[..., Any] | Workflow,
        *,
        inputs: Sequence[str] | None = None,
        retries: int = 0,
        backoff: Backoff | float | Mapping[str, Any] | None = None,
        timeout: float | None = None,
        pool: str = "default",
        priority: int | str = "normal",
        fallback: Callable[..., Any] | Mapping[str, Any] | None = None,
        cache: bool = True,
        resources: Mapping[str, float] | None = None,
        **config: Any,
    ) -> Workflow:
        """Add a node: ``kind`` is a callable, a built-in kind name (``"calculator"``, ``"map"``,
        ...; settings as keyword arguments) or a `Workflow` (a sub-workflow). Returns self.

        ``resources`` (``{"gpu_memory_mb": 8000, "slots": 1}``; default one slot) is what one
        execution holds while it runs when ``pool`` is a pool of the Pool Manager: Arbitration
        grants it, all or nothing, against every other run's nodes."""
        options = {
            "inputs": inputs,
            "retries": retries,
            "backoff": backoff,
            "timeout": timeout,
            "pool": pool,
            "priority": priority,
            "fallback": fallback,
            "cache": cache,
            "resources": resources,
        }
        return self._add(name, kind, options, config)

    def _add(
        self,
        name: str,
        kind: str | Callable[..., Any] | Workflow,
        options: Mapping[str, Any],
        config: Mapping[str, Any],
    ) -> Workflow:
        """`add_node` with the node's settings apart from its options (a built-in node's
        settings may use any key, ``pool`` included). ``options`` holds every keyword option of
        `add_node` (their defaults are `add_node`'s)."""
        inputs: Sequence[str] | None = options["inputs"]
        retries = options["retries"]
        backoff = options["backoff"]
        timeout = options["timeout"]
        pool = options["pool"]
        priority = options["priority"]
        fallback = options["fallback"]
        cache = options["cache"]
        resources = options["resources"]
        if not isinstance(name, str) or not name:
            raise ValidationError("a node needs a non-empty str name")
        if name in self._nodes:
            raise ValidationError(f"workflow '{self.name}' already has a node '{name}'")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValidationError(f"node '{name}': retries must be an int >= 0, got {retries!r}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
            raise ValidationError(f"node '{name}': timeout must be seconds > 0, got {timeout!r}")
        if inputs is not None and (isinstance(inputs, str) or not all(isinstance(i, str) for i in inputs)):
            raise ValidationError(f"node '{name}': inputs must be a list of str, got {inputs!r}")
        common: dict[str, Any] = {
            "retries": retries,
            "backoff": _backoff(backoff),
            "timeout": None if timeout is None else float(timeout),
            "pool": pool,
            "priority": _priority(priority),
            "fallback": fallback,
            "cache": cache,
            "resources": _resources(name, resources),
        }
        if fallback is not None:
            _fallback_body(fallback)  # validate now, not at run time
        if isinstance(kind, Workflow):
            if config:
                raise ValidationError(f"node '{name}': a sub-workflow takes no settings")
            taken = list(inputs) if inputs is not None else kind.inputs
            node = Node(name, "workflow", taken, workflow=kind, **common)
        elif isinstance(kind, str):
            if kind == "python":
                raise ValidationError(f"node '{name}': pass the function itself as kind")
            if kind not in BUILTIN_KINDS:
                raise ValidationError(
                    f"node '{name}': unknown node kind {kind!r} "
                    f"(built-in kinds: {', '.join(BUILTIN_KINDS)}; or pass a callable or a Workflow)"
                )
            node = Node(name, kind, list(inputs or []), config=dict(config), **common)
        elif callable(kind):
            if config:
                raise ValidationError(f"node '{name}': unexpected settings {sorted(config)} for a Python node")
            taken = list(inputs) if inputs is not None else _parameters(name, kind)
            node = Node(name, "python", taken, fn=kind, **common)
        else:
            raise ValidationError(
                f"node '{name}': kind must be a callable, a built-in kind name or a Workflow, got {type(kind).__name__}"
            )
        self._nodes[name] = node
        if node.workflow is not None:
            self._subworkflows.append(node.workflow)
        self._changes += 1
        return self

    def set_outputs(self, *names: str) -> Workflow:
        """Choose the output nodes (default: every node nothing depends on)."""
        self._outputs = list(names)
        self._changes += 1
        return self

    # -- reading ---------------------------------------------------------------------------

    @property
    def nodes(self) -> dict[str, Node]:
        """The nodes by name, as copies: changing one changes nothing in the workflow."""
        return {name: _copy(node) for name, node in self._nodes.items()}

    @property
    def inputs(self) -> list[str]:
        """Declared inputs, then every name a node takes that is no node, in first-use order."""
        names = list(self._declared_inputs)
        for node in self._nodes.values():
            for name in node.inputs:
                if name not in self._nodes and name not in names:
                    names.append(name)
        return names

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    # -- manifest --------------------------------------------------------------------------

    def to_manifest(self) -> dict[str, Any]:
        """The workflow as a version-1 manifest dict (JSON-ready)."""
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "name": self.name,
        }
        if self.description:
            manifest["description"] = self.description
        manifest["inputs"] = self.inputs
        if self._outputs:
            manifest["outputs"] = list(self._outputs)
        manifest["nodes"] = [node.to_manifest() for node in self._nodes.values()]
        return manifest

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_manifest(), indent=indent)

    @classmethod
    def from_manifest(
        cls,
        manifest: Mapping[str, Any] | str,
        callables: Mapping[str, Callable[..., Any]] | None = None,
        *,
        namespace: Mapping[str, Callable[..., Any]] | ModuleType | Iterable[ModuleType] | None = None,
        trusted: bool = False,
    ) -> Workflow:
        """Rebuild a workflow from a manifest (dict or JSON text).

        Loading a manifest imports and runs nothing by default: a manifest is data, and may come
        from anyone. Each Python node takes its function from ``callables[node_name]`` (fallbacks
        from ``callables[f"{node_name}.fallback"]``), else from ``namespace`` by the manifest's
        ``callable`` path (``"pkg.mod:fn"``): a mapping of paths to functions, or modules the
        caller has imported (the path must name one of them; nothing else is imported). Only
        ``trusted=True`` imports whatever module the manifest names — which runs that module's
        code: use it only for manifests you wrote. The manifest is validated by the Pit first,
        so errors name the field.

        >>> wf = Workflow.from_manifest(manifest, namespace=my_nodes)  # doctest: +SKIP
        """
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        # The Pit's reading of the manifest, written back out: every field in its one canonical
        # form (a node written as a JSON array becomes an object, "config": null goes), so what
        # the validator accepted, this builds.
        data: dict[str, Any] = json.loads(CompiledWorkflow(text).to_json())
        resolver = _Resolver(dict(callables or {}), namespace, trusted)
        return cls._from_dict(data, resolver)

    @classmethod
    def _from_dict(cls, data: dict[str, Any], resolver: _Resolver) -> Workflow:
        wf = cls(data["name"], inputs=data.get("inputs", []), description=data.get("description"))
        for entry in data["nodes"]:
            name = entry["name"]
            options: dict[str, Any] = {
                "inputs": entry.get("inputs", []),
                "retries": entry.get("retries", 0),
                "backoff": entry.get("backoff"),
                "timeout": entry.get("timeout"),
                "pool": entry.get("pool", "default"),
                "priority": entry.get("priority", 0),
                "cache": entry.get("cache", True),
                "resources": _given_resources(entry.get("resources")),
                "fallback": None,
            }
            fallback = entry.get("fallback")
            if fallback is not None:
                if fallback["kind"] == "python":
                    options["fallback"] = resolver.resolve(f"{name}.fallback", fallback)
                else:
                    options["fallback"] = {"kind": fallback["kind"], **(fallback.get("config") or {})}
            kind = entry["kind"]
            if kind == "python":
                wf._add(name, resolver.resolve(name, entry), options, {})
            elif kind == "workflow":
                wf._add(name, cls._from_dict(entry["workflow"], resolver), options, {})
            else:
                wf._add(name, kind, options, dict(entry.get("config") or {}))
        if data.get("outputs"):
            wf.set_outputs(*data["outputs"])
        return wf

    def compile(self) -> CompiledWorkflow:
        """Validate with the Pit (cached until the workflow or a sub-workflow changes)."""
        return self._compile()[1]

    def _compile(self) -> tuple[tuple[Any, ...], CompiledWorkflow, list[Callable[..., Any]], tuple[str, ...]]:
        """The compiled workflow, its callables and its input names, made again only after a
        change (runs of an unchanged workflow cost no walk over its nodes)."""
        state = self._state()
        if self._compiled is None or self._compiled[0] != state:
            compiled = CompiledWorkflow(json.dumps(self.to_manifest()))
            self._compiled = (state, compiled, self._find_callables(), tuple(compiled.inputs))
        return self._compiled

    def _state(self) -> tuple[Any, ...]:
        """Changes made to this workflow and its sub-workflows (a sub-workflow edited after its
        parent compiled makes the parent compile again)."""
        if not self._subworkflows:
            return (self._changes, ())
        return (self._changes, tuple(sub._state() for sub in self._subworkflows))

    def callables(self) -> list[Callable[..., Any]]:
        """The Python callables in the Pit's slot order: each node's body, the nodes of its
        sub-workflow, then its fallback, depth-first."""
        return list(self._compile()[2])

    def _find_callables(self) -> list[Callable[..., Any]]:
        found: list[Callable[..., Any]] = []
        for node in self._nodes.values():
            if node.kind == "python":
                assert node.fn is not None
                found.append(node.fn)
            elif node.kind == "workflow":
                assert node.workflow is not None
                found.extend(node.workflow._find_callables())
            if callable(node.fallback):
                found.append(node.fallback)
        return found

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, nodes={len(self._nodes)}, inputs={self.inputs})"

    def _repr_html_(self) -> str:
        from symphony_pit._html import workflow_html

        return workflow_html(self)


def _parameters(name: str, fn: Callable[..., Any]) -> list[str]:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        raise ValidationError(f"node '{name}': cannot read the parameters of {fn!r}; pass inputs=[...]") from None
    names = []
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.kind == p.KEYWORD_ONLY:
            if p.default is p.empty:
                raise ValidationError(f"node '{name}': keyword-only parameter '{p.name}' needs a default")
            continue
        if p.default is not p.empty:
            continue  # parameters with defaults keep them
        names.append(p.name)
    return names
