# ruff: noqa: F811  (fixtures imported from router_world are test parameters here)
"""End to end without the gateway: a PouchDB phone pulls its rep db straight from PouchDB Server."""

from __future__ import annotations

from typing import Any

from router_world import ALICE_IDS, events, router, seeded  # noqa: F401

from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases
from sync_gateway.router import Router


async def test_a_phone_sees_the_fan_out_and_a_lost_territory(
    couch: CouchClient, couch_url: str, seeded: Databases, router: Router, phone: Any
) -> None:
    url = f"{couch_url}/{seeded.rep('alice')}"
    await router.run_once()
    await phone.pull(url)
    docs = await phone.all_docs()
    assert {r["id"] for r in docs["rows"]} == ALICE_IDS

    north = await couch.get(seeded.master, "territory:north")
    await couch.put(seeded.master, {**north, "rep_ids": []})
    await router.run_once()
    await phone.pull(url)
    docs = await phone.all_docs()
    assert {r["id"] for r in docs["rows"]} == {"product:SKU-1", "product:SKU-2"}
    # deleted on the phone too, by the tombstone the router wrote in rep_alice
    assert await phone.get_or_none("account:cafe-nord") is None
