"""``same`` decides exactly what comparing canonical JSON texts decides."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from conflict.fields import same
from conflict.revid import canonical_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values, json_values)
def test_same_matches_canonical_json(a: Any, b: Any) -> None:
    assert same(a, b) == (canonical_json(a) == canonical_json(b))


@given(json_values)
def test_same_is_reflexive(a: Any) -> None:
    assert same(a, a)


def test_numbers_of_different_json_types_differ() -> None:
    assert not same(1, 1.0)
    assert not same(1, True)
    assert not same(0.0, -0.0)
    assert not same({"q": 1}, {"q": 1.0})
    assert same({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})
