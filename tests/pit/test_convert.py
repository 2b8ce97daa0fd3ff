"""Lossless conversion Python ↔ Rust, checked by hypothesis over nested values."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from symphony_pit import Pit, ValidationError
from symphony_pit._native import _roundtrip

offsets = st.one_of(st.none(), st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m))))
datetimes = st.builds(
    lambda d, tz: d.replace(tzinfo=tz),
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    offsets,
)
arrays = hnp.arrays(
    dtype=st.sampled_from([np.int8, np.int64, np.uint16, np.float32, np.float64, np.bool_, np.complex128]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: exercises the big-int path
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(),
    datetimes,
    arrays,
)
hashable = st.one_of(st.none(), st.booleans(), st.integers(), st.text(), st.binary())
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(hashable, children, max_size=4),
    ),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to NaN and checks types and array dtypes."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return bool((math.isnan(a) and math.isnan(b)) or a == b)
    if isinstance(a, np.ndarray):
        return bool(a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, dt.datetime):
        return bool(a == b and a.utcoffset() == b.utcoffset())
    return bool(a == b)


@settings(max_examples=300, deadline=None)
@given(values)
def test_roundtrip_is_lossless(value: Any) -> None:
    assert same(_roundtrip(value), value)


@settings(max_examples=100, deadline=None)
@given(values)
def test_artifact_values_roundtrip(value: Any) -> None:
    with Pit() as pit:
        assert same(pit.artifacts.get(pit.artifacts.put(value)), value)


def test_nan_payload_and_signed_zero_are_preserved() -> None:
    assert math.copysign(1.0, _roundtrip(-0.0)) == -1.0
    assert _roundtrip(float("inf")) == float("inf")
    assert math.isnan(_roundtrip(float("nan")))


def test_numpy_scalars_become_python_scalars() -> None:
    assert _roundtrip(np.float64(1.5)) == 1.5
    assert _roundtrip(np.int32(7)) == 7


def test_arrays_come_back_writable_and_non_contiguous_input_is_handled() -> None:
    source = np.arange(12).reshape(3, 4)[:, ::2]
    back = _roundtrip(source)
    np.testing.assert_array_equal(back, source)
    back[0, 0] = 99


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ({1, 2}, TypeError, r"cannot store a value of type 'builtins.set'"),
        ({"a": [1, object()]}, TypeError, r"'builtins.object'.*at value\['a'\]\[1\]"),
        (np.array([object()]), ValidationError, r"dtype object cannot be stored"),
        (dt.date(2024, 1, 1), TypeError, r"'datetime.date'"),
    ],
)
def test_unsupported_values_name_the_type_and_path(value: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        _roundtrip(value)


def test_self_referencing_containers_are_refused_not_crashed() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValidationError, match="nests deeper than 256 levels"):
        _roundtrip(loop)
    deep: Any = 0
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(ValidationError, match="nests deeper"):
        Pit().artifacts.put(deep)
