"""The seeded world of the load benchmark: each field user's database and their day's work.

``plan(user, docs, ops, minutes, seed)`` returns a :class:`UserPlan`, the same for the same
arguments (``random.Random`` seeded with a string), so the direct run and the gateway run send
the same documents in the same order:

- ``initial``: the user's database before the day, ~``docs`` documents with fixed revisions
  (``1-<md5>``): catalog products, the user's territory, accounts, contacts, visits assigned to
  them, and their orders already submitted (which the back office confirms during the day).
- ``ops``: ``ops`` operations at seconds ``at`` after the user's initial pull:
  ``order`` (push 1-2 new draft orders, sometimes submitting an earlier draft as revision 2),
  ``note`` (push a visit note, sometimes editing an earlier one), ``repull`` (a one-shot pull, as
  when the app comes back to the foreground), ``office`` (the back office confirms one of the
  user's orders or assigns a visit: written straight into the user's database, as the router
  does, for the user's live feed to receive).

Pushed documents carry ``_rev`` and ``_revisions`` for ``new_edits=false``, as a replicator sends
them, and every one is valid for the user under ``sync_gateway.access`` (checked here, so a
refusal seen during a run is the gateway's, never the benchmark's).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mobile_schema import sample, sample_checklist_item, sample_order_line
from sync_gateway.access import WriteContext, check_write

DAY_START = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
MIX = {"order": 0.40, "note": 0.20, "repull": 0.15, "office": 0.25}


@dataclass
class Op:
    at: float
    kind: str
    docs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class UserPlan:
    user: str
    initial: list[dict[str, Any]]
    ops: list[Op]


def rev_hash(seed: int, doc_id: str, gen: int) -> str:
    return hashlib.md5(f"{seed}:{doc_id}:{gen}".encode()).hexdigest()


def stamp(seconds: float) -> str:
    return (DAY_START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def with_rev(doc: dict[str, Any], history: list[str]) -> dict[str, Any]:
    """``doc`` as a replicator pushes it: generation ``len(history)``, newest hash first."""
    return {
        **doc,
        "_rev": f"{len(history)}-{history[0]}",
        "_revisions": {"start": len(history), "ids": list(history)},
    }


def _initial(user: str, docs: int, seed: int, rng: random.Random) -> list[dict[str, Any]]:
    n_accounts = max(2, docs // 8)
    n_contacts = max(2, docs // 4)
    n_visits = max(2, docs // 12)
    n_orders = max(2, docs // 12)
    n_products = max(1, docs - n_accounts - n_contacts - n_visits - n_orders - 1)
    territory = f"territory:{user}"
    out = [sample("territory", **{"_id": territory}, name=f"Area {user}", rep_ids=[user])]
    for j in range(n_products):
        out.append(sample("product", **{"_id": f"product:p{j:05d}"}, sku=f"P{j:05d}"))
    for j in range(n_accounts):
        acc = f"account:{user}-a{j}"
        out.append(sample("account", **{"_id": acc}, name=f"Shop {j}", territory_id=territory))
    for j in range(n_contacts):
        acc = f"account:{user}-a{rng.randrange(n_accounts)}"
        out.append(sample("contact", **{"_id": f"contact:{user}-c{j}"}, account_id=acc))
    for j in range(n_visits):
        acc = f"account:{user}-a{rng.randrange(n_accounts)}"
        out.append(
            sample(
                "visit",
                **{"_id": f"visit:{user}-v{j}"},
                assignee_id=user,
                account_id=acc,
                kind="sales",
                work_order_id=None,
            )
        )
    for j in range(n_orders):
        out.append(_order(user, f"order:{user}-o{j}", rng, n_accounts, "submitted", 0))
    return [with_rev(d, [rev_hash(seed, d["_id"], 1)]) for d in out]


def _order(
    user: str, doc_id: str, rng: random.Random, n_accounts: int, status: str, at: float
) -> dict[str, Any]:
    lines = [
        sample_order_line(
            line_id=f"l{k}",
            sku=f"P{rng.randrange(100):05d}",
            qty=rng.randint(1, 20),
            updated_at=stamp(at),
        )
        for k in range(rng.randint(1, 5))
    ]
    return sample(
        "order",
        **{"_id": doc_id},
        rep_id=user,
        account_id=f"account:{user}-a{rng.randrange(n_accounts)}",
        status=status,
        lines=lines,
        submitted_at=stamp(at) if status == "submitted" else None,
        updated_at=stamp(at),
        updated_by=user,
    )


def plan(user: str, docs: int, ops: int, minutes: float, seed: int) -> UserPlan:
    rng = random.Random(f"{seed}:{user}")
    initial = _initial(user, docs, seed, rng)
    by_id = {d["_id"]: d for d in initial}
    n_accounts = sum(1 for d in initial if d["type"] == "account")
    visits = [d["_id"] for d in initial if d["type"] == "visit"]
    to_confirm = [d["_id"] for d in initial if d["type"] == "order"]
    drafts: list[str] = []
    notes: list[str] = []
    history: dict[str, list[str]] = {}  # own documents: revision hashes, newest first
    body: dict[str, dict[str, Any]] = {}
    times = sorted(rng.uniform(0, minutes * 60) for _ in range(ops))
    out: list[Op] = []

    def revise(doc: dict[str, Any]) -> dict[str, Any]:
        hashes = history.setdefault(doc["_id"], [])
        hashes.insert(0, rev_hash(seed, doc["_id"], len(hashes) + 1))
        parent = body.get(doc["_id"])
        body[doc["_id"]] = doc
        pushed = with_rev(doc, hashes)
        ctx = WriteContext(user, "rep", parent, parent is not None, frozenset(by_id))
        problem = check_write(pushed, ctx)
        assert problem is None, (pushed["_id"], problem)
        return pushed

    for n, at in enumerate(times):
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        op = Op(at, kind)
        if kind == "order":
            for k in range(rng.randint(1, 2)):
                doc_id = f"order:{user}-n{n}-{k}"
                op.docs.append(revise(_order(user, doc_id, rng, n_accounts, "draft", at)))
                drafts.append(doc_id)
            if len(drafts) > 2 and rng.random() < 0.5:
                doc_id = drafts.pop(0)
                submitted = {**body[doc_id], "status": "submitted", "submitted_at": stamp(at)}
                op.docs.append(revise({**submitted, "updated_at": stamp(at)}))
        elif kind == "note":
            if notes and rng.random() < 0.3:
                old = body[rng.choice(notes)]
                text = old["text"] + " Checked again."
                op.docs.append(revise({**old, "text": text, "updated_at": stamp(at)}))
            else:
                doc_id = f"visit_note:{user}-n{n}"
                note = sample(
                    "visit_note",
                    **{"_id": doc_id},
                    visit_id=rng.choice(visits),
                    author_id=user,
                    text=f"Visit {n}: shelf checked, {rng.randint(1, 40)} facings.",
                    checklist=[sample_checklist_item(item_id="c1", updated_at=stamp(at))],
                    updated_at=stamp(at),
                    updated_by=user,
                )
                op.docs.append(revise(note))
                notes.append(doc_id)
        elif kind == "office":
            if to_confirm:
                old = by_id[to_confirm.pop(rng.randrange(len(to_confirm)))]
                hashes = [rev_hash(seed, old["_id"], 2), *old["_revisions"]["ids"]]
                confirmed = {**old, "status": "confirmed", "confirmed_at": stamp(at)}
                op.docs.append(with_rev(confirmed, hashes))
            else:
                doc_id = f"visit:{user}-office{n}"
                visit = sample(
                    "visit",
                    **{"_id": doc_id},
                    assignee_id=user,
                    account_id=f"account:{user}-a0",
                    kind="sales",
                    work_order_id=None,
                )
                op.docs.append(with_rev(visit, [rev_hash(seed, doc_id, 1)]))
        out.append(op)
    return UserPlan(user, initial, out)
