"""The snapshot rules (sync_gateway/snapshots/policy.py) and the Range parser, table-driven."""

from __future__ import annotations

import pytest

from sync_gateway.rest.snapshot import parse_range
from sync_gateway.snapshots.policy import Policy, is_stale, reason_to_build, seq_number

POLICY = Policy(min_docs=100, rebuild_changes=50, max_age_s=3600)
NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("built_seq", "built_at", "db_seq", "doc_count", "expected"),
    [
        (None, None, 500, 99, None),  # too small for a snapshot
        (None, None, 500, 100, "missing"),
        (450, NOW, 500, 400, "changed"),  # 50 updates behind
        (451, NOW, 500, 400, None),  # 49 behind, fresh
        (451, NOW - 3600, 500, 400, "old"),  # behind and an hour old
        (500, NOW - 86400, 500, 400, None),  # old but nothing changed
    ],
)
def test_reason_to_build(
    built_seq: int | None, built_at: float | None, db_seq: int, doc_count: int, expected: str | None
) -> None:
    assert reason_to_build(built_seq, built_at, db_seq, doc_count, NOW, POLICY) == expected


def test_stale_is_what_the_builder_would_replace() -> None:
    assert is_stale(450, NOW, 500, NOW, POLICY)
    assert not is_stale(451, NOW, 500, NOW, POLICY)
    assert is_stale(499, NOW - 3600, 500, NOW, POLICY)


@pytest.mark.parametrize(
    ("seq", "number"),
    [(0, 0), (42, 42), ("42", 42), ("1234-g1AAAAB3eJzLYWBg", 1234), ("now", 0)],
)
def test_seq_number(seq: object, number: int) -> None:
    assert seq_number(seq) == number


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=10-", (10, 99)),
        ("bytes=90-500", (90, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=100-", "unsatisfiable"),
        ("bytes=-0", "unsatisfiable"),
        ("bytes=0-1,5-6", None),  # several ranges: the whole body
        ("items=0-1", None),
        ("bytes=-", None),
    ],
)
def test_parse_range(header: str | None, expected: object) -> None:
    assert parse_range(header, 100) == expected
