"""The replicator's batch endpoints: ``_revs_diff``, ``_bulk_docs``, ``_bulk_get``, ``_all_docs``.

    POST /sync/{db}/_revs_diff      ids and revisions checked; the device's own ``_design/``
                                    docs are never asked for (they stay on the device)
    POST /sync/{db}/_bulk_docs      screened per document (writes.py): a refused one gets
                                    CouchDB's per-document error, the rest is stored
    POST /sync/{db}/_bulk_get       ids and revisions checked, forwarded, streamed back
    GET|POST /sync/{db}/_all_docs   the query decoded and checked; design documents hidden

Every batch is at most ``max_batch_docs`` documents (413 otherwise). A ``_revs_diff`` that
finds something missing and every ``_bulk_docs`` tell the router a push is under way
(router/settle.py), so it carries the push in once, at its end.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from .. import metrics
from ..couch import db_path
from ..work import stage
from ..writes import REV_RE, merge_results, screen
from .context import (
    SyncContext,
    endpoint,
    mark_pushing,
    notify_written,
    record_activity,
    shape_latest,
)
from .encoding import read_json
from .errors import GatewayError
from .responses import forward, json_response

ALL_DOCS_QUERY = {
    "include_docs",
    "conflicts",
    "descending",
    "limit",
    "skip",
    "inclusive_end",
    "update_seq",
    "key",
    "keys",
    "startkey",
    "endkey",
    "start_key",
    "end_key",
    "startkey_docid",
    "endkey_docid",
}
JSON_KEY_PARAMS = frozenset({"key", "keys", "startkey", "endkey", "start_key", "end_key"})


@endpoint("bulk_get")
async def bulk_get(request: Request, ctx: SyncContext) -> Response:
    body = await read_json(request, ctx.settings.max_request_bytes)
    docs = body.get("docs") if isinstance(body, dict) else None
    if not isinstance(docs, list):
        raise GatewayError(400, "bad_request", 'expected {"docs": [{"id", "rev"}]}')
    if len(docs) > ctx.settings.max_batch_docs:
        raise GatewayError(
            413, "too_large", f"at most {ctx.settings.max_batch_docs} documents per _bulk_get"
        )
    clean = []
    for item in docs:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise GatewayError(400, "bad_request", "each entry needs a string id")
        if item["id"].startswith("_"):
            raise GatewayError(403, "forbidden", f"{item['id']} cannot be read by devices")
        rev = item.get("rev")
        if rev is not None and (not isinstance(rev, str) or not REV_RE.match(rev)):
            raise GatewayError(400, "bad_request", f"{rev!r} is not a revision id")
        entry: dict[str, Any] = {"id": item["id"]}
        if rev is not None:
            entry["rev"] = rev
        atts = item.get("atts_since")
        if isinstance(atts, list) and all(isinstance(a, str) for a in atts):
            entry["atts_since"] = atts
        clean.append(entry)
    params = shape_latest(
        ctx,
        {k: v for k, v in request.query_params.items() if k in ("revs", "attachments", "latest")},
    )
    metrics.DOCS_PULLED.inc(len(clean))
    record_activity(ctx, request, "pull")
    return await forward(
        request, ctx, "POST", f"{db_path(ctx.db)}/_bulk_get", params, orjson.dumps({"docs": clean})
    )


@endpoint("revs_diff")
async def revs_diff(request: Request, ctx: SyncContext) -> Response:
    body = await read_json(request, ctx.settings.max_request_bytes)
    if not isinstance(body, dict):
        raise GatewayError(400, "bad_request", "expected {docid: [rev, ...]}")
    if len(body) > ctx.settings.max_batch_docs:
        raise GatewayError(
            413, "too_large", f"at most {ctx.settings.max_batch_docs} documents per _revs_diff"
        )
    for doc_id, revs in body.items():
        if doc_id.startswith("_") and not doc_id.startswith("_design/"):
            raise GatewayError(403, "forbidden", f"{doc_id} cannot be replicated by devices")
        if not isinstance(revs, list) or not all(
            isinstance(r, str) and REV_RE.match(r) for r in revs
        ):
            raise GatewayError(400, "bad_request", f"{doc_id}: expected a list of revision ids")
    # a device's own design documents (persistent queries, pouchdb-find indexes) stay on the
    # device: they are never asked for, so the replicator skips them and pushes the rest
    asked = {doc_id: revs for doc_id, revs in body.items() if not doc_id.startswith("_design/")}
    if not asked:
        return json_response(request, {})
    result = await ctx.couch.request("POST", f"{db_path(ctx.db)}/_revs_diff", json=asked)
    if result:
        mark_pushing(ctx)  # a _bulk_docs of what is missing comes next
    return json_response(request, result)


@endpoint("all_docs")
async def all_docs(request: Request, ctx: SyncContext) -> Response:
    params = _all_docs_params(request.query_params)
    keys = params.pop("keys", None)
    if request.method == "POST":
        body = await read_json(request, ctx.settings.max_request_bytes)
        if isinstance(body, dict) and "keys" in body:
            keys = body["keys"]
    if keys is not None and (
        not isinstance(keys, list)
        or len(keys) > 10_000
        or not all(isinstance(k, str) for k in keys)
    ):
        raise GatewayError(400, "bad_request", "keys must be a JSON array of at most 10,000 ids")
    path = f"{db_path(ctx.db)}/_all_docs"
    if keys is not None:
        result = await ctx.couch.request("POST", path, params=params, json={"keys": keys})
    else:
        result = await ctx.couch.request("GET", path, params=params)
    result["rows"] = [
        r
        for r in result.get("rows", [])
        if not str(r.get("id", r.get("key", ""))).startswith("_design/")
    ]
    return json_response(request, result)


def _all_docs_params(query: Any) -> dict[str, Any]:
    """The query of ``_all_docs``, decoded and checked, so the CouchDB client encodes each
    value exactly once, as CouchDB expects: keys are JSON in the URL (``startkey="order:"``);
    the device's JSON text is decoded here (it was passed on as a string, and so encoded twice:
    no rows). Garbage is a 400, never a 500 or a surprise from the backend."""
    params: dict[str, Any] = {}
    for name, value in query.items():
        if name not in ALL_DOCS_QUERY:
            continue
        if name in JSON_KEY_PARAMS:
            decoded = _json_param(name, value)
            if name == "keys":
                params[name] = decoded  # checked as a list by the caller
                continue
            if not isinstance(decoded, str):
                raise GatewayError(400, "bad_request", f"{name} must be a JSON string (an id)")
            params[name] = decoded
        elif name in ("limit", "skip"):
            if not value.isdigit() or len(value) > 12:
                raise GatewayError(400, "bad_request", f"{name} must be a non-negative integer")
            params[name] = int(value)
        elif name in ("startkey_docid", "endkey_docid"):
            params[name] = value  # plain text in CouchDB's API, not JSON
        elif value in ("true", "false"):
            params[name] = value == "true"
        else:
            raise GatewayError(400, "bad_request", f"{name} must be true or false")
    return params


def _json_param(name: str, value: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, "bad_request", f'{name} must be JSON, e.g. "order:"') from exc


@endpoint("bulk_docs")
async def bulk_docs(request: Request, ctx: SyncContext) -> Response:
    body = await read_json(request, ctx.settings.max_request_bytes)
    if not isinstance(body, dict) or not isinstance(body.get("docs"), list):
        raise GatewayError(400, "bad_request", 'expected {"docs": [...]}')
    docs = body["docs"]
    if len(docs) > ctx.settings.max_batch_docs:
        raise GatewayError(
            413, "too_large", f"at most {ctx.settings.max_batch_docs} documents per _bulk_docs"
        )
    new_edits = body.get("new_edits", True)
    if not isinstance(new_edits, bool):
        raise GatewayError(400, "bad_request", "new_edits must be true or false")
    with ctx.gateway.router.pushing(ctx.db):
        screened = await screen(
            ctx.couch,
            ctx.runtime.dbs,
            ctx.db,
            ctx.user_id,
            ctx.role,
            docs,
            new_edits=new_edits,
            max_doc_bytes=ctx.settings.max_document_bytes,
        )
        upstream: list[dict[str, Any]] = []
        if screened.accepted:
            with stage("store"):
                upstream = await ctx.couch.bulk_docs(
                    ctx.db, [d for _, d in screened.accepted], new_edits=new_edits
                )
    for refusal in screened.refused.values():
        metrics.DOCS_REFUSED.labels(refusal["error"]).inc()
    metrics.DOCS_PUSHED.inc(len(screened.accepted))
    record_activity(ctx, request, "push")
    notify_written(ctx)
    return json_response(
        request, merge_results(screened, upstream, new_edits=new_edits, total=len(docs)), 201
    )
