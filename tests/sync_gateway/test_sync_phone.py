"""A real PouchDB phone replicating through the gateway with its own user's database."""

from __future__ import annotations

from typing import Any

from polling import wait_until
from support.world import World

from mobile_schema import sample, sample_order_line


def catalog(n: int) -> list[dict[str, Any]]:
    return [sample("product", **{"_id": f"product:P{i:05}"}, sku=f"P{i:05}") for i in range(n)]


def order(order_id: str, rep: str = "alice", **kw: Any) -> dict[str, Any]:
    return sample("order", **{"_id": f"order:{order_id}"}, rep_id=rep, **kw)


async def test_initial_pull_gets_everything_but_design_documents(world: World, phone: Any) -> None:
    alice = world.users["alice"]
    db = world.dbs.rep("alice")
    await world.couch.bulk_docs(db, [*catalog(120), sample("account")])
    await world.couch.put(db, {"_id": "_design/secret", "views": {}})
    result = await phone.pull(alice.sync_url, headers=alice.headers)
    assert result["status"] == "complete"
    assert result["docs_written"] == 121
    ids = [row["id"] for row in (await phone.all_docs())["rows"]]
    assert "_design/secret" not in ids
    assert len(ids) == 121


async def test_offline_orders_are_pushed_and_refusals_do_not_sink_the_batch(
    world: World, phone: Any
) -> None:
    alice = world.users["alice"]
    good = [order(f"o{i}") for i in range(3)]
    forged = order("forged", rep="carol")
    bo_status = order("sneaky", status="confirmed")
    product_edit = sample("product", name="Free tea")
    for doc in [*good, forged, bo_status, product_edit]:
        await phone.put(doc)
    result = await phone.push(alice.sync_url, headers=alice.headers)
    assert result["docs_written"] == 3
    assert result["doc_write_failures"] == 3
    stored = await world.couch.all_docs(world.dbs.rep("alice"))
    assert sorted(r["id"] for r in stored["rows"]) == sorted(d["_id"] for d in good)
    # the same revisions on both sides
    for doc in good:
        local = await phone.get(doc["_id"])
        server = await world.couch.get(world.dbs.rep("alice"), doc["_id"])
        assert local["_rev"] == server["_rev"]


async def test_live_pull_receives_a_server_side_change(world: World, phone: Any) -> None:
    alice = world.users["alice"]
    db = world.dbs.rep("alice")
    await world.couch.put(db, order("o1", status="submitted"))
    await phone.live_start(
        "live", alice.sync_url, headers=alice.headers, options={"back_off_ms": 200}
    )
    await phone.wait_for_doc("order:o1", timeout_s=15)
    current = await world.couch.get(db, "order:o1")
    confirmed = {**current, "status": "confirmed", "confirmed_at": "2024-05-02T08:00:00.000Z"}
    await world.couch.put(db, confirmed)
    doc = await phone.wait_for_doc("order:o1", {"status": "confirmed"}, timeout_s=15)
    assert doc["confirmed_at"] == "2024-05-02T08:00:00.000Z"
    await phone.live_stop("live")


async def test_two_way_live_sync_pushes_a_phone_edit(world: World, phone: Any) -> None:
    alice = world.users["alice"]
    db = world.dbs.rep("alice")
    await phone.live_start(
        "both",
        alice.sync_url,
        direction="both",
        headers=alice.headers,
        options={"back_off_ms": 200},
    )
    await phone.put(order("live-1", lines=[sample_order_line(qty=7)]))

    async def arrived() -> bool:
        return await world.couch.get_or_none(db, "order:live-1") is not None

    await wait_until(arrived, timeout=15, message="the phone's order on the server")
    await phone.live_stop("both")


async def test_interrupted_pull_resumes_from_its_checkpoint(world: World, phone: Any) -> None:
    alice = world.users["alice"]
    db = world.dbs.rep("alice")
    await world.couch.bulk_docs(db, catalog(300))
    first = await phone.pull(alice.sync_url, headers=alice.headers, options={"batch_size": 50})
    assert first["docs_written"] == 300
    await world.couch.bulk_docs(
        db, [sample("product", **{"_id": f"product:N{i}"}, sku=f"N{i}") for i in range(20)]
    )
    second = await phone.pull(alice.sync_url, headers=alice.headers, options={"batch_size": 50})
    # only the new documents are read: the checkpoint was stored through the gateway
    assert second["docs_read"] == 20
    checkpoints = [r for r in await phone.requests() if "/_local/" in r["path"]]
    assert any(r["method"] == "PUT" for r in checkpoints)


async def test_old_client_without_bulk_get_pulls_with_open_revs(world: World, phone: Any) -> None:
    alice = world.users["alice"]
    db = world.dbs.rep("alice")
    await world.couch.bulk_docs(db, catalog(15))
    result = await phone.pull(alice.sync_url, headers=alice.headers, no_bulk_get=True)
    assert result["docs_written"] == 15
    sent = [r for r in await phone.requests() if not r.get("blocked")]
    assert not any(r["path"].endswith("/_bulk_get") for r in sent)
    assert any(
        "open_revs" in r.get("query", "") or "open_revs" in r.get("search", "") for r in sent
    )


async def test_a_phone_cannot_replicate_another_users_database(world: World, phone: Any) -> None:
    alice, carol = world.users["alice"], world.users["carol"]
    await world.couch.bulk_docs(world.dbs.rep("carol"), [order("c1", rep="carol")])
    try:
        await phone.pull(carol.sync_url, headers=alice.headers)
    except Exception as exc:  # PouchDB reports the 403 as a failed replication
        assert "403" in str(exc) or "forbidden" in str(exc)
    else:
        raise AssertionError("alice pulled carol's database")
    assert (await phone.all_docs())["rows"] == []


async def test_pulls_and_pushes_are_recorded_per_device(service_factory: Any, phone: Any) -> None:
    from support.world import World, add_user, login

    service = await service_factory(activity_flush_s=0.2)
    world = World(service, await login(service.url, "admin", "admin-pass"))
    alice = await add_user(world, "alice", "rep")
    headers = {**alice.headers, "X-Device-Id": "pda-7", "User-Agent": "FieldApp/2.3 (PDA)"}
    await phone.put(order("dev-1"))
    await phone.push(alice.sync_url, headers=headers)
    await phone.pull(alice.sync_url, headers=headers)
    devices = service.services.gateway.auth.devices

    async def recorded() -> Any:
        doc = await devices.get_device("alice", "pda-7")
        return doc if doc and doc.get("last_pull") and doc.get("last_push") else None

    doc = await wait_until(recorded, timeout=15, message="device activity")
    assert doc["user_agent"].startswith("FieldApp/2.3")
