"""A small seeded world for router tests, on the fresh databases of ``dbs``, and its fixtures.

Test modules import the fixtures (``seeded``, ``events``, ``router``) from here: a conftest.py in
this folder would shadow ``tests/sync_gateway/conftest.py`` for modules that import from it.

fs_master  territory:north (rep alice)  territory:south (rep carol)
           account:cafe-nord (north) + contact:kari   account:sor (south) + contact:sven
           price_list:std (north)  price_list:south (south)  product:SKU-1, product:SKU-2
fs_field   visit:v-1, work_order:wo-1 of engineer bob at account:sor; visit_note:vn-1 by bob
rep dbs    rep_alice, rep_bob (carol has none)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mobile_schema import sample
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases, ensure_databases
from sync_gateway.router import Router

MASTER = [
    sample("territory", rep_ids=["alice"]),
    sample("territory", **{"_id": "territory:south"}, name="South", rep_ids=["carol"]),
    sample("account"),
    sample(
        "account",
        **{"_id": "account:sor"},
        territory_id="territory:south",
        price_list_id="price_list:south",
    ),
    sample("contact"),
    sample("contact", **{"_id": "contact:sven"}, account_id="account:sor"),
    sample("price_list"),
    sample("price_list", **{"_id": "price_list:south"}, territory_ids=["territory:south"]),
    sample("product"),
    sample("product", **{"_id": "product:SKU-2"}, sku="SKU-2"),
]
FIELD = [
    sample("visit", account_id="account:sor"),
    sample("work_order", account_id="account:sor"),
    sample("visit_note"),
]
ALICE_IDS = {"territory:north", "account:cafe-nord", "contact:kari", "price_list:std",
             "product:SKU-1", "product:SKU-2"}  # fmt: skip
BOB_IDS = {"product:SKU-1", "product:SKU-2", "visit:v-1", "work_order:wo-1", "visit_note:vn-1",
           "account:sor", "contact:sven"}  # fmt: skip


async def live_ids(couch: CouchClient, db: str) -> set[str]:
    rows = (await couch.all_docs(db))["rows"]
    return {r["id"] for r in rows if not r["id"].startswith("_")}


async def update_seqs(couch: CouchClient, names: list[str]) -> dict[str, Any]:
    return {db: (await couch.db_info(db))["update_seq"] for db in names}


@pytest.fixture
async def seeded(couch: CouchClient, dbs: Databases) -> Databases:
    await ensure_databases(couch, dbs)
    await couch.bulk_docs(dbs.master, MASTER)
    await couch.bulk_docs(dbs.field, FIELD)
    for user in ("alice", "bob"):
        await couch.create_db(dbs.rep(user))
    return dbs


@pytest.fixture
async def events() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
async def router(
    couch: CouchClient, seeded: Databases, events: list[tuple[str, dict[str, Any]]]
) -> AsyncIterator[Router]:
    r = Router(couch, seeded, on_event=lambda k, p: events.append((k, p)), page_size=50,
               poll_interval_s=0.05, rescan_interval_s=0.2, heartbeat_ms=1000)  # fmt: skip
    yield r
    await r.stop()
