"""`Pipeline`: the seed's chained style over `Workflow`.

>>> import asyncio
>>> from symphony_pit import Pipeline
>>> pipeline = (Pipeline("double")
...             .add_node("twice", lambda input: input * 2)
...             .add_node("plus", "calculator", operation="add", operand=1, inputs=["twice"]))
>>> asyncio.run(pipeline.run(20)).outputs
{'plus': 41}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from symphony_pit.pit import default_pit
from symphony_pit.workflow import Workflow

if TYPE_CHECKING:
    from symphony_pit.pit import Pit
    from symphony_pit.runs import WorkflowRun


class Pipeline:
    """A workflow built by chaining ``add_node`` calls and run with ``await pipeline.run(data)``.

    ``run(input_data)`` binds a dict to the workflow's inputs by name, or a single value to its
    only input (nodes take it by naming a parameter ``input``).
    """

    def __init__(self, name: str, *, pit: Pit | None = None) -> None:
        self.workflow = Workflow(name)
        self.pit = pit

    @property
    def name(self) -> str:
        return self.workflow.name

    def add_node(self, name: str, kind: str | Callable[..., Any] | Workflow, **options: Any) -> Pipeline:
        """Add a node (as `Workflow.add_node`) and return the pipeline for chaining."""
        self.workflow.add_node(name, kind, **options)
        return self

    def _inputs(self, input_data: Any) -> dict[str, Any]:
        names = self.workflow.inputs
        if isinstance(input_data, Mapping) and set(input_data) == set(names):
            return dict(input_data)
        if input_data is None and not names:
            return {}
        if len(names) == 1:
            return {names[0]: input_data}
        from symphony_pit.errors import ValidationError

        raise ValidationError(f"pipeline '{self.name}' takes inputs {names}; pass a dict with exactly those keys")

    async def run(self, input_data: Any = None, **options: Any) -> WorkflowRun:
        """Run the pipeline without blocking the event loop (see `Pit.run_async`)."""
        pit = self.pit or default_pit()
        return await pit.run_async(self.workflow, self._inputs(input_data), **options)

    def run_sync(self, input_data: Any = None, **options: Any) -> WorkflowRun:
        """Run the pipeline, blocking (see `Pit.run`)."""
        pit = self.pit or default_pit()
        return pit.run(self.workflow, self._inputs(input_data), **options)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, nodes={len(self.workflow)})"
