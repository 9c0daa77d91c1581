"""When a snapshot is built, and when one is too old to be served without saying so.

A snapshot only saves time when the database is big: below ``min_docs`` documents plain
replication is a handful of requests, so none is built. Above it:

    no snapshot yet                                          build ("missing")
    lag >= rebuild_changes                                   rebuild ("changed")
    lag > 0 and age >= max_age_s                             rebuild ("old")
    otherwise                                                keep

``lag`` is the number of database updates since the snapshot's sequence, read from the
numeric prefix of CouchDB's sequences (PouchDB Server's are plain numbers; CouchDB 3's
``"<n>-g1AAA..."`` start with the sum of the shards' update counters, which only grows). A snapshot
that the rule above would rebuild is *stale*: the gateway still serves it (the replication after
it brings the rest, so the device ends up right either way) but says so in a header and asks for a
rebuild. So a served snapshot lags its database by at most ``rebuild_changes`` updates or
``max_age_s`` seconds, plus the builder's check interval, unless the header says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Policy:
    min_docs: int = 1000
    rebuild_changes: int = 1000
    max_age_s: float = 6 * 3600.0


def seq_number(seq: Any) -> int:
    """The update counter in a CouchDB sequence (``12``, ``"12"``, ``"12-g1AAA..."``)."""
    if isinstance(seq, int):
        return seq
    head = str(seq).split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def reason_to_build(
    built_seq: int | None,
    built_at: float | None,
    db_seq: int,
    doc_count: int,
    now: float,
    policy: Policy,
) -> str | None:
    """Why a snapshot should be built now (``missing``, ``changed``, ``old``), or None."""
    if doc_count < policy.min_docs:
        return None
    if built_seq is None or built_at is None:
        return "missing"
    lag = db_seq - built_seq
    if lag >= policy.rebuild_changes:
        return "changed"
    if lag > 0 and now - built_at >= policy.max_age_s:
        return "old"
    return None


def is_stale(built_seq: int, built_at: float, db_seq: int, now: float, policy: Policy) -> bool:
    """True when the builder should already have replaced this snapshot."""
    return reason_to_build(built_seq, built_at, db_seq, policy.min_docs, now, policy) is not None
