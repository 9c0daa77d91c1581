"""Orders end to end: real PouchDB phones push through the gateway, the router carries the orders
to fs_orders, an ERP-like follower reads the inbox with its cursor across a restart of the
service, and the back office's decisions travel back to the phones."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from support.orders_world import order
from support.world import World, add_user

from mobile_schema import sample_order_line

ROUNDS = 4
PER_ROUND = 5


class Follower:
    """Follows the inbox from the start, as an ERP would: the cursor is all it keeps."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.cursor: str | None = None
        self.items: list[dict[str, Any]] = []

    async def poll(self, base_url: str) -> None:
        """Read pages until the walk reaches the end of the feed (for now)."""
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        ) as http:
            while True:
                params = {"limit": 4, "since": self.cursor} if self.cursor else {"limit": 4}
                resp = await http.get("/api/v1/orders", params=params)
                assert resp.status_code == 200, resp.text
                body = resp.json()
                self.items.extend(body["items"])
                self.cursor = body["next"]
                if not body["more"]:
                    return

    async def follow_until(self, base_url: str, want: int, within_s: float = 60) -> None:
        deadline = time.monotonic() + within_s
        while len({i["_id"] for i in self.items}) < want:
            assert time.monotonic() < deadline, f"the inbox had {len(self.items)} of {want}"
            await self.poll(base_url)
            await asyncio.sleep(0.1)  # a follower's poll interval, not a wait for our own work


def on(service: Any, sync_url: str) -> str:
    """The same database on another running service."""
    return service.url + sync_url[sync_url.index("/sync/") :]


async def test_phones_push_while_the_inbox_follower_reads_through_a_restart(
    world: World, phone: Any, phone2: Any, service_factory: Any
) -> None:
    bo = await add_user(world, "bo", "backoffice")
    reps = {"alice": phone, "carol": phone2}
    follower = Follower(bo.token)
    base = world.url

    async def push_round(round_no: int, url_of: Any) -> None:
        for user_id, ph in reps.items():
            docs = [
                order(f"{user_id}-{round_no}-{i}", rep=user_id, note=f"round {round_no}")
                for i in range(PER_ROUND)
            ]
            await ph.bulk_docs(docs)
            rep = world.users[user_id]
            result = await ph.push(url_of(rep.sync_url), headers=rep.headers)
            assert result["docs_written"] == PER_ROUND, result

    # the first half arrives while the follower reads
    for round_no in range(ROUNDS // 2):
        await asyncio.gather(push_round(round_no, lambda u: u), follower.poll(base))
    await follower.follow_until(base, want=len(reps) * PER_ROUND * (ROUNDS // 2))

    # the service restarts (a new process state on the same databases); phones and follower
    # carry on against it with what they kept: their checkpoints and the cursor
    restarted = await service_factory()
    for round_no in range(ROUNDS // 2, ROUNDS):
        await asyncio.gather(
            push_round(round_no, lambda u: on(restarted, u)), follower.poll(restarted.url)
        )
    total = len(reps) * PER_ROUND * ROUNDS
    await follower.follow_until(restarted.url, want=total)
    await follower.poll(restarted.url)

    ids = [item["_id"] for item in follower.items]
    assert len(ids) == total, "an order was delivered more than once"
    assert set(ids) == {
        f"order:{u}-{r}-{i}" for u in reps for r in range(ROUNDS) for i in range(PER_ROUND)
    }
    # what the follower got is what the phone wrote: same revision
    sample_item = next(i for i in follower.items if i["_id"] == "order:alice-0-0")
    assert sample_item["_rev"] == (await phone.get("order:alice-0-0"))["_rev"]


async def test_decisions_reach_the_phones(world: World, phone: Any, phone2: Any) -> None:
    bo = await add_user(world, "bo", "backoffice")
    alice, carol = world.users["alice"], world.users["carol"]
    lines = [
        sample_order_line(line_id="a", qty=4, unit_price="10.00", discount_pct=0),
        sample_order_line(line_id="b", qty=1, unit_price="5.00", discount_pct=0),
    ]
    await phone.bulk_docs([order("to-confirm", lines=lines), order("to-ship")])
    await phone2.put(order("to-reject", rep="carol"))
    for ph, user in ((phone, alice), (phone2, carol)):
        await ph.live_start(
            "live",
            user.sync_url,
            direction="both",
            headers=user.headers,
            options={"back_off_ms": 200},
        )

    async with world.http("bo") as http:

        async def decide(path: str, body: Any = None) -> dict[str, Any]:
            deadline = time.monotonic() + 30
            while True:  # the order reaches fs_orders through the router
                resp = await http.post(f"/api/v1/orders/{path}", json=body)
                if resp.status_code != 404 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert resp.status_code == 200, resp.text
            doc: dict[str, Any] = resp.json()
            return doc

        confirmed = await decide(
            "to-confirm/confirm", {"lines": [{"line_id": "a", "confirmed_qty": 2}]}
        )
        await decide("to-ship/confirm", {})
        shipped = await decide("to-ship/ship")
        await decide("to-reject/reject", {"reason": "Account on credit hold"})
    assert bo.role == "backoffice"

    doc = await phone.wait_for_doc(
        "order:to-confirm", {"status": "confirmed", "_rev": confirmed["_rev"]}, timeout_s=20
    )
    assert doc["total"] == "25.00"
    assert [ln["confirmed_qty"] for ln in doc["lines"]] == [2, 1]
    await phone.wait_for_doc(
        "order:to-ship", {"status": "shipped", "_rev": shipped["_rev"]}, timeout_s=20
    )
    rejected = await phone2.wait_for_doc("order:to-reject", {"status": "rejected"}, timeout_s=20)
    assert rejected["rejection_reason"] == "Account on credit hold"
    assert not rejected.get("_conflicts")
    for ph in (phone, phone2):
        await ph.live_stop("live")
