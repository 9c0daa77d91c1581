"""A small seeded world for router tests, on the fresh databases of ``dbs``.

fs_master  territory:north (rep alice)  territory:south (rep carol)
           account:cafe-nord (north) + contact:kari   account:sor (south) + contact:sven
           price_list:std (north)  price_list:south (south)  product:SKU-1, product:SKU-2
fs_field   visit:v-1, work_order:wo-1 of engineer bob at account:sor; visit_note:vn-1 by bob
rep dbs    rep_alice, rep_bob (carol has none)
"""

from __future__ import annotations

from typing import Any

from mobile_schema import sample
from sync_gateway.couch import CouchClient

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
