"""The phone driver (tests/phone/phone.js + tests/support/phone.py) against a real PouchDB Server.

The server is started here, once for this module, on a free port with a temporary folder. Some
tests put a recording reverse proxy (starlette + httpx under uvicorn, on another free port) in
front of it: it records what reached the server (method, path, query, headers), and, standing in
for the sync gateway's per-document validation, refuses in `_bulk_docs` every doc that has
`"refuse": true` with CouchDB's `{"id", "error": "forbidden", "reason"}` while storing the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from support.phone import Phone, PhoneCommandError, PhoneCrashed, PhoneTimeout, node_path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
async def server_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A PouchDB Server of our own, so this module does not depend on the project's fixtures."""
    data = tmp_path_factory.mktemp("pouchdb-server")
    (data / "config.json").write_text(
        json.dumps({"log": {"file": str(data / "log.txt"), "level": "warning"}})
    )
    port = _free_port()
    script = node_path() / "pouchdb-server" / "bin" / "pouchdb-server"
    proc = await asyncio.create_subprocess_exec(
        "node", str(script), "--port", str(port), "--host", "127.0.0.1",
        "--dir", str(data), "--config", str(data / "config.json"), "--no-stdout-logs",
        cwd=data,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                assert proc.returncode is None, "pouchdb-server exited at start"
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url + "/")).status_code == 200:
                        break
                assert time.monotonic() < deadline, "pouchdb-server did not answer in 30 s"
                await asyncio.sleep(0.1)
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def db_url(server_url: str, http: httpx.AsyncClient) -> AsyncIterator[str]:
    """A fresh, existing database on the server."""
    url = f"{server_url}/t_{uuid.uuid4().hex[:12]}"
    assert (await http.put(url)).status_code == 201
    yield url
    await http.delete(url)


@pytest.fixture
async def phone(tmp_path: Path) -> AsyncIterator[Phone]:
    phone = Phone()
    await phone.start(tmp_path / "phone")
    try:
        yield phone
    finally:
        await phone.close()


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class RecordingProxy:
    url: str
    seen: list[Seen] = field(default_factory=list)


@pytest.fixture
async def proxy(server_url: str) -> AsyncIterator[RecordingProxy]:
    port = _free_port()
    recorder = RecordingProxy(f"http://127.0.0.1:{port}")
    upstream = httpx.AsyncClient(base_url=server_url, timeout=30)

    async def forward(request: Request) -> Response:
        body = await request.body()
        recorder.seen.append(
            Seen(
                request.method,
                request.url.path,
                dict(request.query_params),
                {k.lower(): v for k, v in request.headers.items()},
            )
        )
        refused: list[dict[str, Any]] = []
        if request.method == "POST" and request.url.path.endswith("/_bulk_docs"):
            payload = json.loads(body)
            keep = [d for d in payload["docs"] if not d.get("refuse")]
            refused = [
                {"id": d["_id"], "error": "forbidden", "reason": "refused by test proxy"}
                for d in payload["docs"]
                if d.get("refuse")
            ]
            body = json.dumps({**payload, "docs": keep}).encode()
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in {"host", "content-length", "authorization"}
        }
        answer = await upstream.request(
            request.method, request.url.path, params=request.url.query, content=body,
            headers=headers,
        )  # fmt: skip
        content = answer.content
        if refused and answer.status_code in (200, 201):
            content = json.dumps([*answer.json(), *refused]).encode()
        return Response(
            content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type"),
        )

    app = Starlette(
        routes=[Route("/{path:path}", forward, methods=["GET", "PUT", "POST", "DELETE", "HEAD"])]
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert not task.done(), "proxy failed to start"
        assert time.monotonic() < deadline, "proxy did not start in 10 s"
        await asyncio.sleep(0.02)
    try:
        yield recorder
    finally:
        server.should_exit = True
        await task
        await upstream.aclose()


def _db_path(url: str) -> str:
    return "/" + url.rsplit("/", 1)[1]


async def test_push_puts_phone_docs_on_the_server(
    phone: Phone, db_url: str, http: httpx.AsyncClient
) -> None:
    docs = [{"_id": f"order:{i}", "type": "order", "qty": i} for i in range(5)]
    written = await phone.bulk_docs(docs)
    assert all(row["ok"] for row in written)

    result = await phone.push(db_url)

    assert result["status"] == "complete"
    assert result["docs_written"] == 5
    assert result["doc_write_failures"] == 0
    for doc, row in zip(docs, written, strict=True):
        on_server = (await http.get(f"{db_url}/{doc['_id']}")).json()
        assert on_server["qty"] == doc["qty"]
        assert on_server["_rev"] == row["rev"]


async def test_pull_brings_server_docs_to_the_phone_with_bulk_get(
    phone: Phone, db_url: str, http: httpx.AsyncClient
) -> None:
    docs = [{"_id": f"account:{i}", "type": "account", "name": f"Shop {i}"} for i in range(4)]
    response = await http.post(f"{db_url}/_bulk_docs", json={"docs": docs})
    revs = {row["id"]: row["rev"] for row in response.json()}

    result = await phone.pull(db_url, name="first-pull")

    assert result["docs_written"] == 4
    for doc in docs:
        local = await phone.get(doc["_id"])
        assert (local["name"], local["_rev"]) == (doc["name"], revs[doc["_id"]])
    log = await phone.requests("first-pull")
    assert any(r["method"] == "POST" and r["path"].endswith("/_bulk_get") for r in log)
    assert not any(r.get("blocked") for r in log)


async def test_no_bulk_get_pulls_with_open_revs_and_sends_no_bulk_get(
    phone: Phone, db_url: str, http: httpx.AsyncClient, proxy: RecordingProxy
) -> None:
    # A normal pull first, through the same server URL: PouchDB caches "this server has
    # _bulk_get" per server URL, and the no_bulk_get pull that follows must not be fooled by it.
    via_proxy = proxy.url + _db_path(db_url)
    await http.put(f"{db_url}/warmup", json={})
    assert (await phone.pull(via_proxy))["docs_written"] == 1
    assert any(s.path.endswith("/_bulk_get") for s in proxy.seen)
    before = len(proxy.seen)

    # "visit:1" has two revisions on the server, so the phone must get the second with history.
    first = (await http.put(f"{db_url}/visit:1", json={"status": "planned"})).json()
    await http.put(f"{db_url}/visit:1", json={"status": "done", "_rev": first["rev"]})
    await http.put(f"{db_url}/visit:2", json={"status": "planned"})

    result = await phone.pull(via_proxy, no_bulk_get=True, name="old-client")

    assert result["status"] == "complete"
    assert result["docs_written"] == 2  # warmup arrived before
    visit = await phone.get("visit:1", revs=True)
    assert visit["status"] == "done"
    assert visit["_revisions"]["start"] == 2
    assert len(visit["_revisions"]["ids"]) == 2
    # The phone's own log: _bulk_get was tried once and answered locally.
    log = await phone.requests("old-client")
    bulk_get = [r for r in log if r["path"].endswith("/_bulk_get")]
    assert bulk_get and all(r.get("blocked") for r in bulk_get)
    # What reached the server: no _bulk_get, one GET ?open_revs=[...] per document.
    seen = proxy.seen[before:]
    assert not any(s.path.endswith("/_bulk_get") for s in seen)
    open_revs = {s.path.rsplit("/", 1)[1]: s.query for s in seen if "open_revs" in s.query}
    assert set(open_revs) == {"visit:1", "visit:2"}
    assert open_revs["visit:1"]["revs"] == "true"
    assert json.loads(open_revs["visit:1"]["open_revs"])[0].startswith("2-")


async def test_custom_headers_reach_the_server_on_every_request(
    phone: Phone, db_url: str, http: httpx.AsyncClient, proxy: RecordingProxy
) -> None:
    await http.put(f"{db_url}/product:1", json={"sku": "A-1"})
    await phone.put({"_id": "order:1", "qty": 2})
    via_proxy = proxy.url + _db_path(db_url)
    auth = {"Authorization": "Bearer token-123", "X-Device-Id": "dev-7"}

    pushed = await phone.push(via_proxy, headers=auth, name="push")
    pulled = await phone.pull(via_proxy, headers=auth, name="pull")

    assert (pushed["docs_written"], pulled["docs_written"]) == (1, 1)
    assert (await http.get(f"{db_url}/order:1")).status_code == 200
    assert len(proxy.seen) > 6  # info, checkpoints, _changes, _revs_diff, _bulk_docs, _bulk_get...
    for seen in proxy.seen:
        assert seen.headers.get("authorization") == "Bearer token-123", seen
        assert seen.headers.get("x-device-id") == "dev-7", seen
    # The phone's log and the proxy agree on how many requests were made. PouchDB sends one
    # GET <db>/ for progress without waiting for it, so it may still be on its way.
    sent = len(await phone.requests("push")) + len(await phone.requests("pull"))
    deadline = time.monotonic() + 5
    while len(proxy.seen) < sent:
        assert time.monotonic() < deadline, f"{sent} requests sent, {len(proxy.seen)} arrived"
        await asyncio.sleep(0.02)
    assert len(proxy.seen) == sent


async def test_refused_documents_are_counted_and_do_not_abort_the_push(
    phone: Phone, db_url: str, http: httpx.AsyncClient, proxy: RecordingProxy
) -> None:
    await phone.bulk_docs(
        [{"_id": "order:ok1"}, {"_id": "order:bad", "refuse": True}, {"_id": "order:ok2"}]
    )

    result = await phone.push(proxy.url + _db_path(db_url))

    assert result["status"] == "complete"
    assert (result["docs_written"], result["doc_write_failures"]) == (2, 1)
    assert [d["id"] for d in result["denied"]] == ["order:bad"]
    assert result["errors"][0]["name"] == "forbidden"
    assert (await http.get(f"{db_url}/order:ok2")).status_code == 200
    assert (await http.get(f"{db_url}/order:bad")).status_code == 404


async def test_live_pull_delivers_a_server_write(
    phone: Phone, db_url: str, http: httpx.AsyncClient
) -> None:
    await phone.live_start("live", db_url, direction="pull", options={"heartbeat": 2000})
    await phone.wait_event({"event": "paused", "name": "live"}, timeout_s=15)
    mark = phone.mark()

    await http.put(f"{db_url}/notification:1", json={"title": "Order confirmed", "read": False})

    doc = await phone.wait_for_doc("notification:1", {"title": "Order confirmed"}, timeout_s=15)
    assert doc["read"] is False
    change = await phone.wait_event(
        lambda e: e["event"] == "change" and "notification:1" in e["doc_ids"], since=mark
    )
    assert change["name"] == "live"
    final = await phone.live_stop("live")
    assert final["status"] == "cancelled"


async def test_live_both_pushes_a_phone_write_and_sees_a_deletion(
    phone: Phone, db_url: str, http: httpx.AsyncClient
) -> None:
    created = (await http.put(f"{db_url}/visit:9", json={"status": "planned"})).json()
    await phone.live_start("both", db_url, direction="both", options={"heartbeat": 2000})
    await phone.wait_for_doc("visit:9", {"status": "planned"}, timeout_s=15)
    await phone.put({"_id": "visit_note:1", "text": "Shelf restocked", "checklist": []})

    deadline = time.monotonic() + 15
    while (await http.get(f"{db_url}/visit_note:1")).status_code != 200:
        assert time.monotonic() < deadline, "the phone's note never reached the server"
        await asyncio.sleep(0.05)
    await http.delete(f"{db_url}/visit:9", params={"rev": created["rev"]})

    gone = await phone.wait_for_doc("visit:9", {"_deleted": True}, timeout_s=15)
    assert gone["_deleted"] is True
    await phone.live_stop("both")


async def test_wait_for_doc_times_out_with_what_it_saw(phone: Phone) -> None:
    await phone.put({"_id": "order:1", "status": "draft"})
    with pytest.raises(PhoneTimeout, match="draft"):
        await phone.wait_for_doc("order:1", {"status": "confirmed"}, timeout_s=0.3)


async def test_nested_predicates_and_conflicts_are_visible(phone: Phone) -> None:
    # Two leaves of one order, as after offline edits on two devices:
    #   1-a ── 2-b  {"lines": [{"qty": 1}]}
    #      └── 2-c  {"lines": [{"qty": 5}]}   <- winner (higher hash)
    await phone.bulk_docs(
        [
            {"_id": "order:7", "_rev": "2-b", "_revisions": {"start": 2, "ids": ["b", "a"]},
             "lines": [{"qty": 1}]},
            {"_id": "order:7", "_rev": "2-c", "_revisions": {"start": 2, "ids": ["c", "a"]},
             "lines": [{"qty": 5}]},
        ],
        new_edits=False,
    )  # fmt: skip
    doc = await phone.wait_for_doc("order:7", {"lines.0.qty": 5}, timeout_s=5)
    assert doc["_rev"] == "2-c"
    assert doc["_conflicts"] == ["2-b"]


async def test_errors_carry_the_pouchdb_status(phone: Phone) -> None:
    with pytest.raises(PhoneCommandError) as caught:
        await phone.get("nope")
    assert caught.value.status == 404
    assert await phone.get_or_none("nope") is None
    await phone.put({"_id": "a"})
    with pytest.raises(PhoneCommandError) as conflict:
        await phone.put({"_id": "a"})
    assert conflict.value.status == 409


async def test_a_failed_replication_reports_its_partial_result(phone: Phone) -> None:
    dead = f"http://127.0.0.1:{_free_port()}/nothing_here"
    with pytest.raises(PhoneCommandError) as caught:
        await phone.pull(dead, timeout_s=30)
    assert caught.value.result is not None
    assert caught.value.result["status"] == "aborting"


async def test_a_killed_phone_fails_fast(tmp_path: Path) -> None:
    phone = Phone()
    await phone.start(tmp_path)
    await phone.kill()
    with pytest.raises(PhoneCrashed):
        await phone.info()
    await phone.close()


async def test_one_off_sync_goes_both_ways(
    phone: Phone, db_url: str, http: httpx.AsyncClient
) -> None:
    await http.put(f"{db_url}/product:1", json={"sku": "A-1"})
    await phone.put({"_id": "order:1", "qty": 1})

    result = await phone.sync(db_url)

    assert (result["push"]["docs_written"], result["pull"]["docs_written"]) == (1, 1)
    assert (await phone.get("product:1"))["sku"] == "A-1"
    assert (await http.get(f"{db_url}/order:1")).status_code == 200


async def test_set_headers_swaps_the_token_of_a_live_push(
    phone: Phone, db_url: str, http: httpx.AsyncClient, proxy: RecordingProxy
) -> None:
    url = proxy.url + _db_path(db_url)
    await phone.live_start(
        "up", url, direction="push", headers={"Authorization": "Bearer old"}, skip_setup=True
    )

    async def push_and_wait(doc_id: str) -> None:
        mark = phone.mark()
        await phone.put({"_id": doc_id})
        pushed = False
        # "paused" after the change: the checkpoint is written too, nothing is in flight.
        async for event in phone.events(since=mark, timeout_s=15):
            pushed = pushed or (event["event"] == "change" and doc_id in event["doc_ids"])
            if pushed and event["event"] == "paused":
                break
        assert (await http.get(f"{db_url}/{doc_id}")).status_code == 200

    await push_and_wait("order:1")
    switched = len(proxy.seen)
    await phone.set_headers("up", {"Authorization": "Bearer new"})
    await push_and_wait("order:2")
    await phone.live_stop("up")

    before = {s.headers.get("authorization") for s in proxy.seen[:switched]}
    after = {s.headers.get("authorization") for s in proxy.seen[switched:]}
    assert before == {"Bearer old"}
    assert after == {"Bearer new"}
