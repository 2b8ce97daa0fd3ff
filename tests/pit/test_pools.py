"""Pool Manager through Python: lifecycle, capacity accounting, cache hits, runtimes."""

from __future__ import annotations

from typing import Any

import pytest
from symphony_pit import ModelSpec, NotFound, Pit, ResourceExhausted, ValidationError


def transitions(pit: Pit) -> list[tuple[str, str, str]]:
    return [
        (e.data["from"], e.data["to"], e.data["reason"])
        for e in pit.poll_events(10_000)
        if e.kind == "model.transition"
    ]


def test_allocate_invoke_release_walks_the_lifecycle(pit: Pit) -> None:
    pit.pools.add_pool("cpu", cpu=2, memory_mb=1024)
    handle = pit.pools.allocate("cpu", ModelSpec("echo-model", memory_mb=256))
    assert handle.status == "hot"
    assert not handle.cache_hit
    assert handle.invoke({"prompt": "hi"}) == {"prompt": "hi"}
    assert pit.pools.pool("cpu")["used"] == {"cpu": 1.0, "memory_mb": 256.0, "gpu_memory_mb": 0.0, "slots": 1.0}
    handle.release(unload=True)
    assert handle.status == "released"
    assert pit.pools.pool("cpu")["used"]["cpu"] == 0
    assert transitions(pit) == [
        ("cold", "warming", "user"),
        ("warming", "hot", "user"),
        ("hot", "cooling", "user"),
        ("cooling", "cold", "user"),
    ]


def test_hot_model_is_reused_without_new_capacity(pit: Pit) -> None:
    pit.pools.add_pool("cpu", cpu=1)
    spec = ModelSpec("m", cpu=1)
    with pit.pools.allocate("cpu", spec) as first:
        pass
    second = pit.pools.allocate("cpu", ModelSpec("m", cpu=1))  # an equal spec
    assert second.cache_hit
    assert second.model_id == first.model_id
    assert pit.pools.stats()["hit_rate"] == 0.5
    assert pit.pools.pool("cpu")["used"]["cpu"] == 1


def test_exhaustion_names_pool_and_dimension(pit: Pit) -> None:
    pit.pools.add_pool("gpu", gpu_memory_mb=16_000)
    pit.pools.allocate("gpu", ModelSpec("big", gpu_memory_mb=12_000))
    with pytest.raises(ResourceExhausted, match=r"pool 'gpu' cannot fit model 'second'.*gpu_memory_mb=8000"):
        pit.pools.allocate("gpu", ModelSpec("second", gpu_memory_mb=8_000))
    assert isinstance(ResourceExhausted("x"), RuntimeError)
    pit.pools.check_invariants()


def test_idle_models_are_cooled_under_pressure(pit: Pit) -> None:
    pit.pools.add_pool("cpu", cpu=2)
    for name in ("a", "b"):
        pit.pools.allocate("cpu", ModelSpec(name)).release()
    handle = pit.pools.allocate("cpu", ModelSpec("c", cpu=2))
    assert handle.status == "hot"
    reasons = {reason for _, to, reason in transitions(pit) if to == "cooling"}
    assert reasons == {"pressure"}
    pit.pools.check_invariants()


def test_prewarm_then_allocate_is_a_hit_and_cool_idle_frees(pit: Pit) -> None:
    pit.pools.add_pool("cpu", cpu=4)
    spec = ModelSpec("warm", cpu=2)
    assert len(pit.pools.prewarm("cpu", spec, count=2)) == 2
    with pytest.raises(ResourceExhausted):
        pit.pools.prewarm("cpu", spec)
    assert pit.pools.allocate("cpu", spec).cache_hit
    assert pit.pools.cool_idle(0.0) == 1
    assert pit.pools.pool("cpu")["used"]["cpu"] == 2


def test_python_runtime_failure_reraises_and_recovers_capacity(pit: Pit) -> None:
    calls: list[Any] = []

    def handler(spec: ModelSpec, value: Any) -> Any:
        calls.append((spec.name, value))
        if value == "explode":
            raise ZeroDivisionError("model divided by zero")
        return {"echo": value, "temperature": spec.config["temperature"]}

    pit.pools.register_runtime("python-model", handler, load=lambda spec: calls.append(("load", spec.name)))
    pit.pools.add_pool("cpu", cpu=1)
    handle = pit.pools.allocate("cpu", ModelSpec("llm", model_type="python-model", config={"temperature": 0.2}))
    assert handle.invoke("hi") == {"echo": "hi", "temperature": 0.2}
    with pytest.raises(ZeroDivisionError, match="divided by zero"):
        handle.invoke("explode")
    assert handle.status == "cold"
    assert pit.pools.pool("cpu")["used"]["cpu"] == 0
    with pytest.raises(ValidationError, match="not hot"):
        handle.invoke("again")
    handle.release()
    assert calls[0] == ("load", "llm")
    pit.pools.check_invariants()


def test_failing_load_leaves_nothing_allocated(pit: Pit) -> None:
    def load(spec: ModelSpec) -> None:
        raise OSError("weights not found")

    pit.pools.register_runtime("broken", lambda spec, x: x, load=load)
    pit.pools.add_pool("cpu", cpu=1)
    with pytest.raises(ValidationError, match="failed to load.*weights not found"):
        pit.pools.allocate("cpu", ModelSpec("b", model_type="broken"))
    assert pit.pools.pool("cpu")["used"]["cpu"] == 0
    assert pit.pools.models() == []


def test_unknown_runtime_and_unknown_handles(pit: Pit) -> None:
    pit.pools.add_pool("cpu")
    handle = pit.pools.allocate("cpu", ModelSpec("x", model_type="nobody-runs-this"))
    with pytest.raises(NotFound, match="no runtime registered for model_type 'nobody-runs-this'"):
        handle.invoke(1)
    handle.release()
    with pytest.raises(NotFound, match="already released"):
        handle.release()
    with pytest.raises(NotFound):
        pit.pools.release(123456)


def test_remove_pool_refuses_while_allocated(pit: Pit) -> None:
    pit.pools.add_pool("cpu", cpu=1)
    handle = pit.pools.allocate("cpu", ModelSpec("x"))
    with pytest.raises(ValidationError, match="still has 1 allocated"):
        pit.pools.remove_pool("cpu")
    handle.release()
    pit.pools.remove_pool("cpu")
    assert "cpu" not in pit.pools
    with pytest.raises(NotFound):
        pit.pools.remove_pool("cpu")


def test_reprs_show_state(pit: Pit) -> None:
    pit.pools.add_pool("cpu", cpu=2)
    handle = pit.pools.allocate("cpu", ModelSpec("shown"))
    assert "status=hot" in repr(handle)
    html = pit.pools._repr_html_()
    assert "Pool Manager" in html
    assert "shown" in html
    assert "cpu 1/2" in html
    assert "Model handle" in handle._repr_html_()
    assert repr(ModelSpec("m", cpu=0.5)) == 'ModelSpec("m", "1", model_type="echo", cpu=0.5, slots=1)'
