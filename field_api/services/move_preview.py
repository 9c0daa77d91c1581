"""What a territory change would do to the field users' devices, without writing anything.

A manager about to move accounts or reps sees, per field user, how many documents their
devices would gain and lose::

    {"territory_id": "south",
     "users": [{"user_id": "alice", "gain": 0, "lose": 3,
                "gained": {}, "lost": {"account": 1, "contact": 2}}, ...]}

It is the router's own arithmetic: an :class:`sync_gateway.router.assignments.Assignments`
index is built from the shared databases as they are now (fs_master's territories, accounts,
contacts and price lists, fs_field's visits and work orders, which keep an account on its
assignee's device), the proposed change is applied to it, and the resulting
:class:`~sync_gateway.router.assignments.Delta` is counted. Products go to everyone and orders
stay with their rep, so neither ever counts. Cost: one read of those documents per preview
(``_all_docs`` key ranges), fine for the thousands of accounts a manager moves by hand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases
from sync_gateway.router.assignments import Assignments, Delta
from sync_gateway.router.rules import routing_fields

from .documents import Doc, full_id, local_id, read_docs, scan
from .masterdata import (
    _accounts_by_territory,
    require_field_users,
    require_territory,
    unknown_accounts,
)

_MASTER_TYPES = ("territory", "account", "contact", "price_list")
_FIELD_TYPES = ("visit", "work_order")


async def _index(couch: CouchClient, dbs: Databases) -> Assignments:
    index = Assignments()
    for db, types in ((dbs.master, _MASTER_TYPES), (dbs.field, _FIELD_TYPES)):
        for doc_type in types:
            index.load([doc async for doc in scan(couch, db, doc_type)])
    return index


def _summary(territory_id: str, delta: Delta) -> Doc:
    users = sorted(set(delta.gained) | set(delta.lost))
    rows = []
    for user_id in users:
        gained = Counter(d.split(":", 1)[0] for d in delta.gained.get(user_id, ()))
        lost = Counter(d.split(":", 1)[0] for d in delta.lost.get(user_id, ()))
        rows.append(
            {
                "user_id": user_id,
                "gain": sum(gained.values()),
                "lose": sum(lost.values()),
                "gained": dict(sorted(gained.items())),
                "lost": dict(sorted(lost.items())),
            }
        )
    return {"territory_id": territory_id, "users": rows}


async def preview_accounts(
    couch: CouchClient, dbs: Databases, territory_id: str, account_ids: Sequence[str]
) -> Doc:
    """The effect of ``PUT /territories/{id}/accounts`` with ``account_ids``."""
    territory = await require_territory(couch, dbs, territory_id)
    tid = territory["_id"]
    wanted = list(dict.fromkeys(full_id("account", a) for a in account_ids))
    found = await read_docs(couch, dbs.master, wanted)
    unknown_accounts(wanted, found)
    members = (await _accounts_by_territory(couch, dbs)).get(tid, [])
    index = await _index(couch, dbs)
    delta = Delta()
    targets: dict[str, Any] = {a: tid for a in wanted}
    targets.update({a: None for a in members if a not in targets})
    for account_id, target in targets.items():
        current = found.get(account_id) or index.get(account_id)
        if current is None:
            continue
        fields = routing_fields({**current, "_id": account_id, "type": "account"})
        if fields is not None:
            delta.merge(index.apply(account_id, {**fields, "territory_id": target}))
    return _summary(local_id(tid), delta)


async def preview_reps(
    couch: CouchClient, dbs: Databases, territory_id: str, user_ids: Sequence[str]
) -> Doc:
    """The effect of ``PUT /territories/{id}/reps`` with ``user_ids``."""
    territory = await require_territory(couch, dbs, territory_id)
    wanted = list(dict.fromkeys(user_ids))
    await require_field_users(couch, dbs, wanted)
    index = await _index(couch, dbs)
    fields = routing_fields({**territory, "rep_ids": wanted})
    delta = index.apply(territory["_id"], fields)
    return _summary(local_id(territory["_id"]), delta)
