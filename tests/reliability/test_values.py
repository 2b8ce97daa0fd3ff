"""The rule for every value: `put` refuses it with a ValidationError naming where the problem is,
or `get` returns it equal — in this process and after the store is reopened."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
import zoneinfo
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from symphony_pit import Pit, ValidationError

MAX_DEPTH = 256


def nested(levels: int) -> Any:
    """A value `levels` deep as the store counts it (a scalar is 1, a list of scalars 2)."""
    value: Any = 0
    for _ in range(levels - 1):
        value = [value]
    return value


def same(a: Any, b: Any) -> bool:
    """Equality that treats NaN as NaN, compares arrays by dtype, shape and bytes, and datetimes
    by wall time, fold and zone as well as by instant."""
    if isinstance(a, np.ndarray):
        return bool(
            isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        )
    if isinstance(a, float):
        return isinstance(b, float) and ((math.isnan(a) and math.isnan(b)) or a == b)
    if isinstance(a, dt.datetime):
        return (
            isinstance(b, dt.datetime)
            and a.replace(tzinfo=None) == b.replace(tzinfo=None)
            and a.fold == b.fold
            and a.utcoffset() == b.utcoffset()
            and str(a.tzinfo) == str(b.tzinfo)
        )
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(type(a) is type(b) and a == b)


def test_the_depth_limit_is_the_same_writing_and_reading(store: Path) -> None:
    with Pit(store) as pit:
        deepest = pit.artifacts.put(nested(MAX_DEPTH))
        tagged = pit.artifacts.put(b"x", custom=nested(MAX_DEPTH - 1))  # custom sits in no container
        other = pit.artifacts.put(b"another")
        with pytest.raises(ValidationError, match=f"deeper than {MAX_DEPTH} levels"):
            pit.artifacts.put(nested(MAX_DEPTH + 1))
        with pytest.raises(ValidationError, match=f"deeper than {MAX_DEPTH} levels"):
            pit.artifacts.put(b"y", custom=nested(MAX_DEPTH + 1))
    with Pit(store) as pit:  # the store opens, and everything accepted reads back
        assert pit.artifacts.get(deepest) == nested(MAX_DEPTH)
        assert pit.artifacts.metadata(tagged).custom == nested(MAX_DEPTH - 1)
        assert pit.artifacts.get(other) == b"another"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros(3, dtype="V0"), "items of size 0"),
        (np.longdouble(1.5), "numpy scalar of dtype"),
        (np.datetime64("2024-01-01T00:00:00.000000001"), r"numpy.datetime64\[ns\] cannot be stored exactly"),
        (np.complex128(1 + 2j), "numpy scalar of dtype complex128"),
        (pd.Timestamp("2024-01-01 00:00:00.000000001"), "Timestamp with nanoseconds"),
        (np.ma.masked_array([1, 2], mask=[False, True]), "masked arrays"),
        ({"a": [1, np.longdouble(2)]}, r"at value\['a'\]\[1\]"),
        (dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(seconds=1.5))), "fractions of a second"),
    ],
)
def test_values_that_cannot_read_back_equal_are_refused(pit: Pit, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        pit.artifacts.put(value)


def test_an_int_subclass_is_stored_by_value_not_by_its_str(store: Path) -> None:
    class Shouty(int):
        def __str__(self) -> str:
            return "LOUD"

        __repr__ = __str__

    big = Shouty(2**70 + 3)
    with Pit(store) as pit:
        artifact = pit.artifacts.put({"n": big, "small": Shouty(5)})
    with Pit(store) as pit:
        assert pit.artifacts.get(artifact) == {"n": 2**70 + 3, "small": 5}


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2021, 10, 31, 2, 30, fold=1),  # the second 02:30 of a night clocks went back
        dt.datetime(2021, 10, 31, 2, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        dt.datetime(2024, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
        dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC),
        pd.Timestamp("2024-01-01 12:00:00.5"),  # no nanoseconds: kept as a datetime
        np.datetime64("2024-01-01T00:00:00.000001"),  # microseconds: kept as a datetime
    ],
)
def test_datetimes_keep_fold_and_zone(store: Path, value: Any) -> None:
    with Pit(store) as pit:
        artifact = pit.artifacts.put(value)
    expected = value.astype(dt.datetime) if isinstance(value, np.datetime64) else value
    if isinstance(expected, pd.Timestamp):
        expected = expected.to_pydatetime()
    with Pit(store) as pit:
        back = pit.artifacts.get(artifact)
    assert same(expected, back), (expected, back)
    if isinstance(expected.tzinfo, zoneinfo.ZoneInfo):
        assert back.tzinfo == expected.tzinfo  # the zone's rules, not a fixed offset
        assert (back + dt.timedelta(days=180)).utcoffset() != back.utcoffset()


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_ndarray_subclasses_are_kept_as_plain_arrays(pit: Pit) -> None:
    for value in (np.matrix([[1, 2]]), np.matrix([[7]])):
        back = pit.artifacts.get(pit.artifacts.put(value))
        assert type(back) is np.ndarray
        np.testing.assert_array_equal(back, np.asarray(value))


# -- the rule, over exotic values ------------------------------------------------------------

zones = st.sampled_from(
    [None, dt.UTC, dt.timezone(dt.timedelta(hours=-5))]
    + [zoneinfo.ZoneInfo(k) for k in ("Europe/Paris", "Asia/Kolkata", "America/Sao_Paulo")]
)
datetimes = st.builds(
    lambda d, tz, fold: d.replace(tzinfo=tz, fold=fold),
    st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2200, 12, 30)),
    zones,
    st.integers(0, 1),
)
dtypes = st.one_of(
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.floating_dtypes(),
    hnp.complex_number_dtypes(),
    hnp.datetime64_dtypes(),
    hnp.timedelta64_dtypes(),
    hnp.byte_string_dtypes(),
    hnp.unicode_string_dtypes(),
    st.just(np.dtype(bool)),
    st.just(np.dtype(np.longdouble)),
)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)
arrays = st.builds(
    lambda a, view: {"plain": a, "reversed": a[::-1], "transposed": a.T}[view] if a.ndim else a,
    st.one_of(
        hnp.arrays(dtypes, shapes),
        st.builds(np.zeros, shapes, st.sampled_from(["V0", "V3"])),  # void items: no strategy infers them
    ),
    st.sampled_from(["plain", "reversed", "transposed"]),
)
numpy_scalars = arrays.filter(lambda a: a.size > 0).map(lambda a: a.reshape(-1)[0])


class IntSub(int):
    def __str__(self) -> str:
        return "nope"


class StrSub(str):
    pass


class FloatSub(float):
    pass


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers().map(IntSub),
    st.floats(),
    st.floats().map(FloatSub),
    st.text(),
    st.text().map(StrSub),
    st.binary(),
    datetimes,
    arrays,
    numpy_scalars,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.one_of(st.text(), st.integers(), st.none()), inner, max_size=4),
    ),
    max_leaves=25,
)


def normalised(value: Any) -> Any:
    """What the store is documented to return for `value` (README: "Values and what comes back")."""
    if isinstance(value, bool | type(None)):
        return value
    if isinstance(value, np.ndarray):
        return value.copy(order="C").view(np.ndarray)
    if isinstance(value, np.generic):
        return normalised(value.item())
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return [normalised(v) for v in value]
    if isinstance(value, tuple):
        return tuple(normalised(v) for v in value)
    if isinstance(value, dict):
        return {normalised(k): normalised(v) for k, v in value.items()}
    return value


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(value=values)
def test_every_value_is_refused_or_reads_back_equal(value: Any) -> None:
    with Pit() as pit:
        refusal = ""
        try:
            artifact = pit.artifacts.put(value)
        except ValidationError as refused:
            refusal = str(refused)
        except TypeError as refused:  # an unsupported type (timedelta, complex, ...): named
            refusal = str(refused)
        if refusal:
            assert "cannot" in refusal or "deeper than" in refusal, refusal
            return
        back = pit.artifacts.get(artifact)
        assert same(normalised(value), back), (value, back)


MEMORY_PROBE = """
import resource, sys, numpy as np
from symphony_pit import Pit
n = 25_000_000  # 200 MB of float64
a = np.arange(n, dtype=np.float64) if sys.argv[1] == "plain" else np.broadcast_to(np.arange(5_000.0), (5_000, 5_000))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pit = Pit()
artifact = pit.artifacts.put(a)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024 / a.nbytes)
assert (pit.artifacts.get(artifact) == a).all()
"""


@pytest.mark.parametrize("layout", ["plain", "broadcast"])
def test_putting_an_array_needs_one_copy_of_it(layout: str) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, layout], capture_output=True, text=True, check=True, timeout=120
    )
    growth = float(probe.stdout.strip())
    # The stored encoding is one copy; before, converting and encoding took two more.
    assert growth < 1.4, f"peak memory grew by {growth:.2f}x the array's size"
