"""The outgoing order webhook against a real local receiver (uvicorn on a free port).

The worker runs against the test's databases on the real CouchDB-protocol server; the receiver
answers from a script of statuses (then 200) and records every request it got.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from polling import wait_until
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from support.world import login

from field_api.settings import Settings
from field_api.webhooks import (
    WebhookConfig,
    WebhookWorker,
    backoff,
    doc_id_of,
    sign,
    verify,
)
from mobile_schema import sample
from sync_gateway.couch import CouchClient
from sync_gateway.couch.embedded import free_port
from sync_gateway.databases import Databases, ensure_databases

SECRET = b"s3cret-webhook-key"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    url: str
    script: list[int] = field(default_factory=list)  # statuses to answer first, then 200
    got: list[Received] = field(default_factory=list)

    def delivery_ids(self) -> list[str]:
        return [r.headers["x-fieldsync-delivery"] for r in self.got]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    rec = Receiver(f"http://127.0.0.1:{port}/hook")

    async def hook(request: Request) -> PlainTextResponse:
        rec.got.append(Received(dict(request.headers), await request.body()))
        status = rec.script.pop(0) if rec.script else 200
        return PlainTextResponse("ok" if status < 300 else "try later", status_code=status)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), message="receiver started")
    yield rec
    server.should_exit = True
    await asyncio.wait_for(task, 30)


@pytest.fixture
async def ready(couch: CouchClient, dbs: Databases) -> Databases:
    await ensure_databases(couch, dbs)
    return dbs


def worker(
    couch: CouchClient, dbs: Databases, url: str, *, attempts: int = 5, **kwargs: Any
) -> WebhookWorker:
    config = WebhookConfig(
        url=url, secret=SECRET, max_attempts=attempts, backoff_s=0.01, backoff_max_s=0.05,
        timeout_s=5.0,
    )  # fmt: skip
    return WebhookWorker(couch, dbs, config, **kwargs)


async def put_order(
    couch: CouchClient, dbs: Databases, local: str, **fields: Any
) -> dict[str, Any]:
    rev = fields.pop("_rev", None)
    doc = sample("order", _id=f"order:{local}", **fields)
    if rev is not None:
        doc["_rev"] = rev
    result = await couch.put(dbs.orders, doc)
    return {**doc, "_rev": result["rev"]}


SUBMITTED = {"status": "submitted", "submitted_at": "2024-05-01T08:31:00.000Z"}


async def log_entry(couch: CouchClient, dbs: Databases, order: dict[str, Any]) -> dict[str, Any]:
    doc = await couch.get(dbs.ops, doc_id_of(order["_id"]))
    return doc


async def drain(w: WebhookWorker, couch: CouchClient, dbs: Databases, order: dict[str, Any]) -> Any:
    """Run rounds until the order's delivery is no longer pending (back-off is milliseconds)."""

    async def settled() -> Any:
        await w.run_once()
        entry = await log_entry(couch, dbs, order)
        return entry if entry["status"] != "pending" else None

    return await wait_until(settled, timeout=30, message="delivery settled")


# -- pure --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "expected"), [(1, 5.0), (2, 10.0), (3, 20.0), (7, 320.0), (8, 600.0), (30, 600.0)]
)
def test_backoff_doubles_up_to_the_cap(attempts: int, expected: float) -> None:
    assert backoff(attempts, 5.0, 600.0) == expected


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    # RFC 4231 test case 2
    assert sign(b"Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    assert verify(
        b"Jefe", b"what do ya want for nothing?", sign(b"Jefe", b"what do ya want for nothing?")
    )
    assert not verify(
        b"Jefe", b"what do ya want for nothing!", sign(b"Jefe", b"what do ya want for nothing?")
    )


# -- worker against the receiver ---------------------------------------------------------------


async def test_submitted_order_is_delivered_once_with_a_valid_signature(
    couch: CouchClient, ready: Databases, receiver: Receiver
) -> None:
    dbs = ready
    order = await put_order(couch, dbs, "o-1", **SUBMITTED)
    await put_order(couch, dbs, "draft-1")  # drafts are the rep's working copy: no event
    await put_order(couch, dbs, "quick-1", status="confirmed",
                    submitted_at="2024-05-01T08:31:00.000Z",
                    confirmed_at="2024-05-01T08:32:00.000Z")  # fmt: skip
    w = worker(couch, dbs, receiver.url)
    try:
        entry = await drain(w, couch, dbs, order)
        assert await w.run_once() == 0  # nothing more to send
    finally:
        await w.stop()
    assert entry["status"] == "delivered" and entry["attempts"] == 1
    assert entry["last_status"] == 200 and entry["delivered_at"]
    assert len(receiver.got) == 1
    got = receiver.got[0]
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-fieldsync-event"] == "order.submitted"
    assert got.headers["x-fieldsync-delivery"] == f"order:o-1:{order['_rev']}"
    assert verify(SECRET, got.body, got.headers["x-fieldsync-signature"])
    assert not verify(b"another secret", got.body, got.headers["x-fieldsync-signature"])
    body = got.json
    assert body["event"] == "order.submitted"
    assert body["delivery_id"] == f"order:o-1:{order['_rev']}"
    assert body["order"] == order


async def test_failures_then_success_retries_with_the_same_delivery(
    couch: CouchClient, ready: Databases, receiver: Receiver
) -> None:
    dbs = ready
    receiver.script = [503, 429, 500]
    order = await put_order(couch, dbs, "o-2", **SUBMITTED)
    w = worker(couch, dbs, receiver.url, attempts=5)
    try:
        entry = await drain(w, couch, dbs, order)
    finally:
        await w.stop()
    assert entry["status"] == "delivered"
    assert entry["attempts"] == 4
    assert len(receiver.got) == 4
    assert len(set(receiver.delivery_ids())) == 1
    assert len({r.body for r in receiver.got}) == 1  # the very same bytes every time
    assert all(verify(SECRET, r.body, r.headers["x-fieldsync-signature"]) for r in receiver.got)


async def test_dead_after_the_attempt_limit(
    couch: CouchClient, ready: Databases, receiver: Receiver
) -> None:
    dbs = ready
    receiver.script = [502] * 10
    order = await put_order(couch, dbs, "o-3", **SUBMITTED)
    w = worker(couch, dbs, receiver.url, attempts=3)
    try:
        entry = await drain(w, couch, dbs, order)
        await w.run_once()
    finally:
        await w.stop()
    assert entry["status"] == "dead"
    assert entry["attempts"] == 3
    assert entry["last_status"] == 502 and "502" in entry["last_error"]
    assert len(receiver.got) == 3


async def test_a_client_error_is_dead_at_once(
    couch: CouchClient, ready: Databases, receiver: Receiver
) -> None:
    dbs = ready
    receiver.script = [401]
    order = await put_order(couch, dbs, "o-4", **SUBMITTED)
    w = worker(couch, dbs, receiver.url, attempts=5)
    try:
        entry = await drain(w, couch, dbs, order)
    finally:
        await w.stop()
    assert (entry["status"], entry["attempts"], entry["last_status"]) == ("dead", 1, 401)
    assert len(receiver.got) == 1


async def test_network_errors_are_retried_then_dead(couch: CouchClient, ready: Databases) -> None:
    dbs = ready
    order = await put_order(couch, dbs, "o-5", **SUBMITTED)
    w = worker(couch, dbs, f"http://127.0.0.1:{free_port()}/nobody-listens", attempts=2)
    try:
        entry = await drain(w, couch, dbs, order)
    finally:
        await w.stop()
    assert (entry["status"], entry["attempts"], entry["last_status"]) == ("dead", 2, None)
    assert "ConnectError" in entry["last_error"]


async def test_no_duplicate_delivery_ids_across_restarts(
    couch: CouchClient, ready: Databases, receiver: Receiver
) -> None:
    dbs = ready
    first = await put_order(couch, dbs, "r-1", **SUBMITTED)
    w1 = worker(couch, dbs, receiver.url)
    try:
        await drain(w1, couch, dbs, first)
    finally:
        await w1.stop()

    # while no worker runs: the rep edits the submitted order (a new revision, still
    # submitted) and a second order arrives
    await put_order(couch, dbs, "r-1", _rev=first["_rev"], note="edited", **SUBMITTED)
    second = await put_order(couch, dbs, "r-2", **SUBMITTED)
    # a crash after logging r-2 and before moving the checkpoint or sending anything
    w2 = worker(couch, dbs, receiver.url)
    assert await w2.enqueue_new() == 1
    await w2.stop()
    checkpoint = await couch.get_local(dbs.ops, "webhook-checkpoint")
    assert checkpoint is not None
    await couch.delete(dbs.ops, "_local/webhook-checkpoint", checkpoint["_rev"])

    w3 = worker(couch, dbs, receiver.url)
    try:
        assert await w3.enqueue_new() == 0  # the feed is read again from 0: nothing new
        await drain(w3, couch, dbs, second)
        assert await w3.run_once() == 0
    finally:
        await w3.stop()
    ids = receiver.delivery_ids()
    assert ids == [f"order:r-1:{first['_rev']}", f"order:r-2:{second['_rev']}"]


async def test_two_workers_that_saw_different_revisions_log_the_order_once(
    couch: CouchClient, ready: Databases, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two worker processes (a deployment mistake, or a take-over) race on one order: the first
    logs the revision it saw; the second, which looked before that write landed, sees a later
    revision (still submitted). The log has one entry per order, so the second write is a
    conflict and the back office gets one delivery."""
    dbs = ready
    first = await put_order(couch, dbs, "race-1", **SUBMITTED)
    w1 = worker(couch, dbs, receiver.url)
    assert await w1.enqueue_new() == 1
    await w1.stop()
    later = await put_order(couch, dbs, "race-1", _rev=first["_rev"], note="edited", **SUBMITTED)
    w2 = worker(couch, dbs, receiver.url)

    async def looked_too_early(order_id: str) -> bool:
        return False  # as if its check ran before w1's entry was written

    monkeypatch.setattr(w2, "_has_entry", looked_too_early)
    try:
        assert await w2.enqueue_new() == 0
        await drain(w2, couch, dbs, first)
    finally:
        await w2.stop()
    assert receiver.delivery_ids() == [f"order:race-1:{first['_rev']}"]
    assert later["_rev"] != first["_rev"]


async def test_entries_logged_under_the_old_per_revision_ids_still_count(
    couch: CouchClient, ready: Databases, receiver: Receiver
) -> None:
    dbs = ready
    order = await put_order(couch, dbs, "old-1", **SUBMITTED)
    await couch.put(
        dbs.ops,
        {"_id": f"webhook_delivery:order:old-1:{order['_rev']}", "type": "webhook_delivery",
         "status": "delivered", "order_id": order["_id"], "order_rev": order["_rev"]},
    )  # fmt: skip
    w = worker(couch, dbs, receiver.url)
    try:
        assert await w.enqueue_new() == 0
    finally:
        await w.stop()
    assert await couch.get_or_none(dbs.ops, "webhook_delivery:order:old-1:submitted") is None


async def test_a_claim_left_by_a_crash_is_sent_again_with_the_same_id(
    couch: CouchClient, ready: Databases, receiver: Receiver
) -> None:
    """At least once: a process that died during the POST leaves the entry pending."""
    dbs = ready
    order = await put_order(couch, dbs, "c-1", **SUBMITTED)
    w = worker(couch, dbs, receiver.url)
    try:
        assert await w.enqueue_new() == 1
        entry = await log_entry(couch, dbs, order)
        # what a claim by a process that then died looks like: attempts counted, due now
        await couch.put(dbs.ops, {**entry, "attempts": 1})
        settled = await drain(w, couch, dbs, order)
    finally:
        await w.stop()
    assert (settled["status"], settled["attempts"]) == ("delivered", 2)
    assert receiver.delivery_ids() == [f"order:c-1:{order['_rev']}"]


# -- in the service ---------------------------------------------------------------------------


async def test_service_delivers_and_lists_deliveries(
    service_factory: Any, receiver: Receiver
) -> None:
    service = await service_factory(
        webhook_url=receiver.url, webhook_secret=SECRET.decode(), webhook_backoff_s=0.05
    )
    rt = service.runtime
    order = await put_order(rt.couch, rt.dbs, "s-1", **SUBMITTED)
    await wait_until(lambda: receiver.got, timeout=30, message="webhook received")
    assert receiver.delivery_ids() == [f"order:s-1:{order['_rev']}"]
    assert verify(SECRET, receiver.got[0].body, receiver.got[0].headers["x-fieldsync-signature"])

    token = await login(service.url, "admin", "admin-pass")
    async with httpx.AsyncClient(
        base_url=service.url, headers={"Authorization": f"Bearer {token}"}
    ) as http:

        async def delivered() -> Any:
            resp = await http.get("/api/v1/webhooks/deliveries", params={"status": "delivered"})
            assert resp.status_code == 200, resp.text
            return resp.json()["items"]

        items = await wait_until(delivered, timeout=30, message="delivery logged")
        assert [i["delivery_id"] for i in items] == [f"order:s-1:{order['_rev']}"]
        assert items[0]["attempts"] == 1 and items[0]["last_status"] == 200
        resp = await http.get("/api/v1/webhooks/deliveries", params={"status": "dead"})
        assert resp.json() == {"items": []}
        resp = await http.get("/api/v1/webhooks/deliveries")
        assert len(resp.json()["items"]) == 1
        resp = await http.get("/api/v1/webhooks/deliveries", params={"status": "lost"})
        assert resp.status_code == 422
        assert resp.headers["content-type"].startswith("application/problem+json")
        resp = await http.get(
            "/api/v1/webhooks/deliveries", headers={"Authorization": "Bearer nope"}
        )
        assert resp.status_code == 401


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, None),
        ({"webhook_secret": "k"}, None),  # no URL: nothing runs
        ({"webhook_url": "http://erp/hook", "webhook_secret": "k"}, b"k"),
    ],
)
def test_config_from_settings(overrides: dict[str, Any], expected: bytes | None) -> None:
    config = Settings(**overrides).webhook()
    assert (config.secret if config else None) == expected


def test_a_url_without_a_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="FIELDSYNC_WEBHOOK_SECRET"):
        Settings(webhook_url="http://erp/hook").webhook()
