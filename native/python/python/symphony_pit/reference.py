"""A pure-Python reference executor for workflow manifests.

It runs the same manifests as the Pit, one node at a time in topological order (`graphlib`),
with the same semantics — retries, fallbacks, downstream skipping, built-in nodes, sub-workflows
— and none of the machinery: no store, no memoisation, no pools, no threads, backoff delays are
not waited. Tests run both and compare outputs and final states.

>>> from symphony_pit import Workflow
>>> from symphony_pit.reference import run_reference
>>> wf = Workflow("w")
>>> _ = wf.add_node("two", "constant", value=2)
>>> _ = wf.add_node("four", "calculator", operation="mul", inputs=["two", "two"])
>>> run_reference(wf).results["four"]
4
"""

from __future__ import annotations

import datetime
import graphlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from symphony_pit.workflow import Workflow

INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class _NodeFailure(Exception):
    """A built-in node failed with Python exception type `exception`."""

    def __init__(self, exception: type[BaseException] | str, message: str) -> None:
        super().__init__(message)
        self.name = exception if isinstance(exception, str) else exception.__name__


@dataclass
class ReferenceRun:
    status: str
    states: dict[str, str]
    results: dict[str, Any]
    attempts: dict[str, int]
    errors: dict[str, str] = field(default_factory=dict)
    fallbacks: set[str] = field(default_factory=set)
    outputs: list[str] = field(default_factory=list)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _number(kind: str, x: Any) -> int | float:
    if not _is_number(x):
        raise _NodeFailure(TypeError, f"{kind} needs numbers, got {type(x).__name__}")
    return x  # type: ignore[no-any-return]


def _checked(x: int | float) -> int | float:
    if isinstance(x, int) and not INT_MIN <= x <= INT_MAX:
        raise _NodeFailure(OverflowError, "integer result outside the 64-bit range")
    return x


def _binary(op: str, a: int | float, b: int | float) -> int | float:
    if op == "div":
        if float(b) == 0.0:
            raise _NodeFailure(ZeroDivisionError, "division by zero")
        return float(a) / float(b)
    if isinstance(a, int) and isinstance(b, int):
        result: int | float = {"add": a + b, "sum": a + b, "sub": a - b, "mul": a * b}[op]
        return _checked(result)
    x, y = float(a), float(b)
    return {"add": x + y, "sum": x + y, "sub": x - y, "mul": x * y}[op]


def _holds(compare: str, a: int | float, b: int | float) -> bool:
    if not (isinstance(a, int) and isinstance(b, int)):
        a, b = float(a), float(b)
    return bool(
        {
            "gt": a > b,
            "ge": a >= b,
            "lt": a < b,
            "le": a <= b,
            "eq": a == b,
            "ne": a != b,
        }[compare]
    )


def _one_list(kind: str, inputs: Sequence[Any]) -> Sequence[Any]:
    if len(inputs) != 1:
        raise _NodeFailure(TypeError, f"{kind} takes exactly one input, got {len(inputs)}")
    if not isinstance(inputs[0], list | tuple):
        raise _NodeFailure(TypeError, f"{kind} needs a list, got {type(inputs[0]).__name__}")
    items: Sequence[Any] = inputs[0]
    return items


def _builtin(kind: str, config: Mapping[str, Any], inputs: Sequence[Any]) -> Any:
    if kind in ("passthrough", "model"):  # the reference's model is the echo runtime
        if kind == "model" and config.get("model_type", "echo") != "echo":
            raise NotImplementedError("the reference executor only knows the echo model")
        return None if not inputs else inputs[0] if len(inputs) == 1 else list(inputs)
    if kind == "constant":
        return config.get("value")
    if kind == "calculator":
        op = config["operation"]
        numbers: list[int | float] = []
        for x in inputs:
            if op == "sum" and isinstance(x, list | tuple):
                numbers.extend(_number("calculator", y) for y in x)
            else:
                numbers.append(_number("calculator", x))
        if "operand" in config:
            numbers.append(config["operand"])
        if op == "sum":
            total: int | float = 0
            for x in numbers:
                total = _binary("add", total, x)
            return total
        if len(numbers) < 2:
            raise _NodeFailure(
                TypeError,
                "calculator add/sub/mul/div needs at least two operands (inputs and 'operand')",
            )
        acc = _binary(op, numbers[0], numbers[1])
        for x in numbers[2:]:
            acc = _binary(op, acc, x)
        return acc
    if kind == "map":
        return [_binary(config["operation"], _number("map", x), config["operand"]) for x in _one_list("map", inputs)]
    if kind == "filter":
        return [
            x for x in _one_list("filter", inputs) if _holds(config["compare"], _number("filter", x), config["value"])
        ]
    if kind == "concat":
        if inputs and all(isinstance(x, str) for x in inputs):
            return "".join(inputs)
        out: list[Any] = []
        for x in inputs:
            if not isinstance(x, list | tuple):
                raise _NodeFailure(TypeError, f"concat joins lists or strs, got {type(x).__name__}")
            out.extend(x)
        return out
    raise ValueError(f"unknown node kind {kind!r}")


def _storable(x: Any, depth: int = 0) -> bool:
    if depth > 256:
        return False
    if x is None or isinstance(x, bool | int | float | str | bytes | datetime.datetime):
        return True
    if isinstance(x, list | tuple):
        return all(_storable(y, depth + 1) for y in x)
    if isinstance(x, dict):
        return all(_storable(k, depth + 1) and _storable(v, depth + 1) for k, v in x.items())
    return type(x).__module__ == "numpy" and type(x).__name__ == "ndarray"


class _Slots:
    def __init__(self, callables: Sequence[Callable[..., Any]]) -> None:
        self.callables = list(callables)
        self.next = 0

    def take(self) -> Callable[..., Any]:
        fn = self.callables[self.next]
        self.next += 1
        return fn


def _run(manifest: Mapping[str, Any], slots: _Slots, inputs: Mapping[str, Any]) -> ReferenceRun:
    nodes = {n["name"]: n for n in manifest["nodes"]}
    # Host slots in the Pit's order: body, sub-workflow nodes, fallback — depth-first.
    bodies: dict[str, Callable[..., Any]] = {}
    fallbacks: dict[str, Callable[..., Any]] = {}
    subs: dict[str, _Slots] = {}
    for n in manifest["nodes"]:
        if n["kind"] == "python":
            bodies[n["name"]] = slots.take()
        elif n["kind"] == "workflow":
            count = _count_slots(n["workflow"])
            subs[n["name"]] = _Slots(slots.callables[slots.next : slots.next + count])
            slots.next += count
        fallback = n.get("fallback")
        if fallback and fallback["kind"] == "python":
            fallbacks[n["name"]] = slots.take()
    graph = {name: {i for i in n.get("inputs", []) if i in nodes} for name, n in nodes.items()}
    order = list(graphlib.TopologicalSorter(graph).static_order())
    run = ReferenceRun("completed", {}, {}, {})
    for name in order:
        node = nodes[name]
        sources = node.get("inputs", [])
        if any(run.states.get(s) in ("failed", "skipped") for s in sources if s in nodes):
            run.states[name] = "skipped"
            run.attempts[name] = 0
            continue
        args = [run.results[s] if s in nodes else inputs[s] for s in sources]

        def body(node: Mapping[str, Any] = node, name: str = name, args: list[Any] = args) -> Any:
            if node["kind"] == "python":
                return bodies[name](*args)
            if node["kind"] == "workflow":
                sub = node["workflow"]
                inner = _run(sub, subs[name], dict(zip(sub.get("inputs", []), args, strict=True)))
                subs[name].next = 0
                if inner.status != "completed":
                    failed = next(n for n, s in inner.states.items() if s == "failed")
                    raise _NodeFailure(inner.errors.get(failed, "RuntimeError"), "sub-workflow failed")
                if len(inner.outputs) == 1:
                    return inner.results[inner.outputs[0]]
                return {o: inner.results[o] for o in inner.outputs}
            return _builtin(node["kind"], node.get("config") or {}, args)

        attempts, retries = 0, node.get("retries", 0)
        succeeded, result, error = False, None, ""
        while attempts <= retries and not succeeded:
            attempts += 1
            succeeded, result, error = _attempt(body)
        if not succeeded and node.get("fallback"):
            fallback = node["fallback"]
            if fallback["kind"] == "python":
                succeeded, result, error = _attempt(lambda: fallbacks[name](*args))  # noqa: B023
            else:
                succeeded, result, error = _attempt(
                    lambda: _builtin(fallback["kind"], fallback.get("config") or {}, args)  # noqa: B023
                )
            if succeeded:
                run.fallbacks.add(name)
        run.attempts[name] = attempts
        if succeeded:
            run.states[name] = "succeeded"
            run.results[name] = result
        else:
            run.states[name] = "failed"
            run.errors[name] = error
            run.status = "failed"
    declared = manifest.get("outputs") or [
        name for name in nodes if not any(name in n.get("inputs", []) for n in nodes.values())
    ]
    run.outputs = list(declared)
    return run


def _attempt(body: Callable[[], Any]) -> tuple[bool, Any, str]:
    try:
        result = body()
    except _NodeFailure as e:
        return False, None, e.name
    except Exception as e:
        return False, None, type(e).__name__
    if not _storable(result):
        return False, None, "TypeError"
    return True, result, ""


def _count_slots(manifest: Mapping[str, Any]) -> int:
    count = 0
    for n in manifest["nodes"]:
        if n["kind"] == "python":
            count += 1
        elif n["kind"] == "workflow":
            count += _count_slots(n["workflow"])
        fallback = n.get("fallback")
        if fallback and fallback["kind"] == "python":
            count += 1
    return count


def run_reference(
    workflow: Workflow | Mapping[str, Any] | str,
    inputs: Mapping[str, Any] | None = None,
    callables: Sequence[Callable[..., Any]] | None = None,
) -> ReferenceRun:
    """Run a workflow (or a manifest with its callables in slot order) the simple way."""
    if isinstance(workflow, Workflow):
        manifest = workflow.to_manifest()
        callables = workflow.callables()
    else:
        manifest = json.loads(workflow) if isinstance(workflow, str) else dict(workflow)
    return _run(manifest, _Slots(callables or []), dict(inputs or {}))
