"""Hostile and broken replication requests: no 5xx, the database stays up, nothing bad is stored.

A seeded mutation fuzzer: it starts from valid replication requests (what PouchDB sends) and
breaks them: wrong types, missing keys, huge and deeply nested values, invalid UTF-8, wrong
content types, bad revisions, path tricks in ids and attachment names. Every answer must be a
CouchDB-style error or a success, never a 5xx; afterwards the user's database holds only what
was accepted, and other users' databases are untouched.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
from support.world import World

from mobile_schema import sample

SEED = 20261124
ROUNDS = 250


def _valid_requests(base: str) -> list[tuple[str, str, dict[str, Any], Any]]:
    order = sample("order", **{"_id": "order:fz-1"}, rep_id="alice")
    rev = {**order, "_rev": "1-abc", "_revisions": {"start": 1, "ids": ["abc"]}}
    return [
        ("POST", f"{base}/_bulk_docs", {}, {"docs": [order]}),
        ("POST", f"{base}/_bulk_docs", {}, {"docs": [rev], "new_edits": False}),
        ("POST", f"{base}/_revs_diff", {}, {"order:fz-1": ["1-abc", "2-def"]}),
        ("POST", f"{base}/_bulk_get", {"revs": "true"}, {"docs": [{"id": "order:fz-1"}]}),
        ("GET", f"{base}/_changes", {"since": "0", "limit": "10", "style": "all_docs"}, None),
        ("POST", f"{base}/_changes", {"filter": "_doc_ids"}, {"doc_ids": ["order:fz-1"]}),
        ("PUT", f"{base}/order:fz-2", {}, sample("order", **{"_id": "order:fz-2"}, rep_id="alice")),
        ("GET", f"{base}/order:fz-1", {"revs": "true", "open_revs": '["1-abc"]'}, None),
        ("PUT", f"{base}/_local/checkpoint", {}, {"last_seq": 1}),
        ("POST", f"{base}/_all_docs", {"include_docs": "true"}, {"keys": ["order:fz-1"]}),
    ]


def _junk(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False, 0, -1, 2**63, 1e308, -0.0])
    if kind == 2:
        return rng.choice(
            [
                "",
                "_design/x",
                "_local/x",
                "../../etc/passwd",
                "order:%2F..",
                "\u0000",
                "a" * 5000,
                "1-",
                "0-abc",
                "-1-abc",
                "1-" + "f" * 200,
                "order:x/attachment",
                "rep_carol",
                "\ud800"[:0] + "é" * 10,
            ]
        )
    if kind == 3 and depth < 3:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 4 and depth < 3:
        return {str(_junk(rng, 3)): _junk(rng, depth + 1) for _ in range(rng.randrange(4))}
    if kind == 5:
        nested: Any = 1
        for _ in range(rng.choice([50, 200])):
            nested = [nested]
        return nested
    if kind == 6:
        return "x" * rng.choice([10, 70_000, 1_500_000])
    return rng.randrange(-5, 5)


def _mutate(rng: random.Random, value: Any) -> Any:
    if isinstance(value, dict) and value and rng.random() < 0.7:
        out = dict(value)
        key = rng.choice(list(out))
        action = rng.randrange(3)
        if action == 0:
            del out[key]
        elif action == 1:
            out[key] = _junk(rng)
        else:
            out[key] = _mutate(rng, out[key])
        return out
    if isinstance(value, list) and value and rng.random() < 0.7:
        out_list = list(value)
        index = rng.randrange(len(out_list))
        out_list[index] = _mutate(rng, out_list[index])
        return out_list
    return _junk(rng)


def _encode(rng: random.Random, body: Any) -> tuple[bytes, str]:
    raw = orjson.dumps(body, option=orjson.OPT_PASSTHROUGH_SUBCLASS) if body is not None else b""
    choice = rng.randrange(10)
    if choice == 0:
        return raw[: max(0, len(raw) // 2)], "application/json"  # truncated
    if choice == 1:
        return b"\xff\xfe\xfa" + raw, "application/json"  # invalid UTF-8
    if choice == 3:
        depth = rng.choice([600, 5000, 100_000])  # deeper than any JSON parser should follow
        return b'{"docs": ' + b"[" * depth + b"]" * depth + b"}", "application/json"
    if choice == 2:
        return raw, rng.choice(
            ["text/plain", "multipart/related; boundary=x", "application/x-www-form-urlencoded"]
        )
    return raw, "application/json"


async def test_mutated_replication_requests_never_hurt(world: World) -> None:
    rng = random.Random(SEED)
    base = f"/sync/{world.dbs.rep('alice')}"
    carol_before = await world.couch.db_info(world.dbs.rep("carol"))
    valid = _valid_requests(base)
    statuses: dict[int, int] = {}
    async with world.http("alice") as http:
        for round_no in range(ROUNDS):
            method, path, params, body = rng.choice(valid)
            if rng.random() < 0.3:
                params = {
                    **params,
                    rng.choice(
                        [
                            "since",
                            "limit",
                            "feed",
                            "heartbeat",
                            "rev",
                            "open_revs",
                            "filter",
                            "style",
                            "revs",
                        ]
                    ): str(_junk(rng))[:300],
                }
            if body is not None:
                body = _mutate(rng, body)
            content, ctype = _encode(rng, body)
            try:
                payload_params = {k: v for k, v in params.items() if "\x00" not in v}
                resp = await http.request(
                    method,
                    path,
                    params=payload_params,
                    content=content,
                    headers={"Content-Type": ctype},
                )
            except ValueError:
                continue  # the client itself refused to send it (illegal header or URL)
            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
            assert resp.status_code < 500, (
                round_no,
                method,
                path,
                params,
                content[:300],
                resp.text[:500],
            )
            if resp.status_code >= 400:
                err = resp.json()
                assert isinstance(err.get("error"), str) and isinstance(err.get("reason"), str)
        # still alive and still correct after all that
        resp = await http.post(
            f"{base}/_bulk_docs",
            json={"docs": [sample("order", **{"_id": "order:after-fuzz"}, rep_id="alice")]},
        )
        assert resp.status_code == 201 and "rev" in resp.json()[0]
    assert any(code >= 400 for code in statuses), statuses
    assert any(code < 300 for code in statuses), statuses
    # nothing that is not a valid document of alice's found its way in
    rows = (await world.couch.all_docs(world.dbs.rep("alice"), include_docs=True))["rows"]
    for row in rows:
        doc = row["doc"]
        assert doc["_id"].startswith(("order:", "_local/")), doc["_id"]
        assert doc.get("rep_id") == "alice"
    assert (await world.couch.db_info(world.dbs.rep("carol")))["update_seq"] == carol_before[
        "update_seq"
    ]


async def test_path_tricks_in_ids_and_attachment_names(world: World) -> None:
    base = f"/sync/{world.dbs.rep('alice')}"
    async with world.http("alice") as http:
        for path in (
            f"{base}/..%2F{world.dbs.rep('carol')}",
            f"{base}/%2e%2e/{world.dbs.rep('carol')}/order:x",
            f"{base}/order:x/..%2F..%2Fsecret",
            f"{base}/order:x/_attachments",
            f"/sync/{world.dbs.rep('alice')}%2F..%2F{world.dbs.rep('carol')}",
            f"/sync/../{world.dbs.rep('carol')}",
        ):
            for method in ("GET", "PUT", "DELETE"):
                resp = await http.request(
                    method, path, content=b"{}", headers={"Content-Type": "application/json"}
                )
                assert resp.status_code in (400, 403, 404, 405, 409), (method, path, resp.text)
    assert (await world.couch.db_info(world.dbs.rep("carol")))["doc_count"] == 0
