"""Derived revision ids: deterministic, shaped like CouchDB's."""

from __future__ import annotations

import re

from conflict import merged_rev, tombstone_rev

REV = re.compile(r"^\d+-[0-9a-f]{32}$")


def test_merged_rev_shape_and_generation() -> None:
    rev = merged_rev("3-c", ["3-c", "2-x"], {"a": 1})
    assert REV.match(rev)
    assert rev.startswith("4-")


def test_merged_rev_ignores_leaf_order_and_underscore_fields() -> None:
    a = merged_rev("3-c", ["3-c", "2-x"], {"a": 1, "b": [1, 2], "_id": "x", "_rev": "3-c"})
    b = merged_rev("3-c", ["2-x", "3-c", "2-x"], {"b": [1, 2], "a": 1})
    assert a == b


def test_merged_rev_depends_on_body_and_leaves() -> None:
    base = merged_rev("3-c", ["3-c", "2-x"], {"a": 1})
    assert merged_rev("3-c", ["3-c", "2-x"], {"a": 2}) != base
    assert merged_rev("3-c", ["3-c", "2-y"], {"a": 1}) != base


def test_tombstone_rev() -> None:
    rev = tombstone_rev("2-x", "4-" + "0" * 32)
    assert REV.match(rev) and rev.startswith("3-")
    assert rev == tombstone_rev("2-x", "4-" + "0" * 32)
    assert rev != tombstone_rev("2-x", "4-" + "1" * 32)
