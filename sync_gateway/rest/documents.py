"""One document at a time: ``GET|PUT|DELETE /sync/{db}/{docid}``, and design documents hidden.

GET|HEAD   read, with the query checked (``DOC_QUERY`` only, revisions well formed);
           ``open_revs`` with ``Accept: multipart/mixed`` is built here, one part per
           revision, as replicators without ``_bulk_get`` expect it on every backend
PUT        screened like one document of a ``_bulk_docs`` (writes.py), ``new_edits``
           honoured; a refusal is a 403 / 413 / 400 with CouchDB's body
DELETE     a deletion of ``?rev=`` (or ``If-Match``), screened the same way
_design/…  404 to read, 403 to write: devices never see or write the server's
other _…   404: not served by the sync gateway; ids ``.`` and ``..`` are a 400
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .. import metrics
from ..couch import doc_path
from ..writes import REV_RE, screen
from .context import SyncContext, endpoint, notify_written, record_activity, shape_latest
from .encoding import read_json
from .errors import JSON, GatewayError, couch_error
from .responses import forward, json_response

DOC_QUERY = {
    "rev",
    "revs",
    "open_revs",
    "latest",
    "attachments",
    "atts_since",
    "revs_info",
    "conflicts",
    "deleted_conflicts",
    "local_seq",
    "meta",
    "att_encoding_info",
}


async def _write_one(
    request: Request, ctx: SyncContext, doc: dict[str, Any], new_edits: bool
) -> Response:
    screened = await screen(
        ctx.couch,
        ctx.runtime.dbs,
        ctx.db,
        ctx.user_id,
        ctx.role,
        [doc],
        new_edits=new_edits,
        max_doc_bytes=ctx.settings.max_document_bytes,
    )
    if screened.refused:
        refusal = screened.refused[0]
        metrics.DOCS_REFUSED.labels(refusal["error"]).inc()
        status = {"forbidden": 403, "too_large": 413}.get(refusal["error"], 400)
        return couch_error(status, refusal["error"], refusal["reason"])
    params = {"new_edits": "false"} if not new_edits else None
    result = await ctx.couch.request("PUT", doc_path(ctx.db, doc["_id"]), json=doc, params=params)
    metrics.DOCS_PUSHED.inc()
    record_activity(ctx, request, "push")
    notify_written(ctx)
    return json_response(request, result, 201)


# -- documents -----------------------------------------------------------------------------


@endpoint("doc")
async def document(request: Request, ctx: SyncContext) -> Response:
    doc_id = request.path_params["docid"]
    if doc_id.startswith("_design/"):
        if request.method in ("GET", "HEAD"):
            return couch_error(404, "not_found", "missing")
        return couch_error(403, "forbidden", "design documents cannot be written by devices")
    if doc_id.startswith("_"):
        return couch_error(404, "not_found", f"{doc_id} is not served by the sync gateway")
    if doc_id in (".", ".."):
        return couch_error(400, "bad_request", "not a document id")
    if request.method in ("GET", "HEAD"):
        return await _get_document(request, ctx, doc_id)
    if request.method == "PUT":
        doc = await read_json(request, ctx.settings.max_request_bytes)
        if not isinstance(doc, dict):
            raise GatewayError(400, "bad_request", "the document must be a JSON object")
        if doc.setdefault("_id", doc_id) != doc_id:
            raise GatewayError(400, "bad_request", "the _id in the body differs from the URL")
        if "rev" in request.query_params and "_rev" not in doc:
            doc["_rev"] = request.query_params["rev"]
        new_edits = request.query_params.get("new_edits", "true") != "false"
        return await _write_one(request, ctx, doc, new_edits)
    if request.method == "DELETE":
        rev = request.query_params.get("rev") or request.headers.get("if-match", "").strip('"')
        if not rev:
            raise GatewayError(409, "conflict", "Document update conflict.")
        return await _write_one(request, ctx, {"_id": doc_id, "_rev": rev, "_deleted": True}, True)
    return couch_error(405, "method_not_allowed", f"{request.method} is not allowed here")


def doc_params(query: Any) -> dict[str, Any]:
    """The query of a document read, checked: CouchDB must never see a malformed one."""
    params = {k: v for k, v in query.items() if k in DOC_QUERY}
    for key, value in params.items():
        if key == "rev":
            ok = bool(REV_RE.match(value))
        elif key in ("open_revs", "atts_since"):
            ok = (value == "all" and key == "open_revs") or _rev_list(value)
        else:
            ok = value in ("true", "false")
        if not ok:
            raise GatewayError(400, "bad_request", f"{key}={value[:80]!r} is not valid here")
    return params


def _rev_list(value: str) -> bool:
    try:
        revs = orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    return (
        isinstance(revs, list)
        and len(revs) <= 1000
        and all(isinstance(r, str) and REV_RE.match(r) for r in revs)
    )


async def _get_document(request: Request, ctx: SyncContext, doc_id: str) -> Response:
    params = shape_latest(ctx, doc_params(request.query_params))
    record_activity(ctx, request, "pull")
    metrics.DOCS_PULLED.inc()
    accept = request.headers.get("accept", "")
    if "multipart/mixed" in accept and "open_revs" in params:
        return await _open_revs_multipart(request, ctx, doc_id, params)
    return await forward(request, ctx, request.method, doc_path(ctx.db, doc_id), params)


async def _open_revs_multipart(
    request: Request, ctx: SyncContext, doc_id: str, params: dict[str, Any]
) -> Response:
    """``open_revs`` as ``multipart/mixed``, one part per revision, as CouchDB's replicator
    expects from servers without ``_bulk_get``; built here so it is the same on every backend."""
    result = await ctx.couch.request(
        "GET", doc_path(ctx.db, doc_id), params=params, headers={"Accept": JSON}
    )
    boundary = f"fieldsync{int(time.time() * 1000):x}"

    async def parts() -> AsyncIterator[bytes]:
        for entry in result:
            if "ok" in entry:
                head = b"Content-Type: application/json\r\n\r\n"
                body = orjson.dumps(entry["ok"])
            else:
                head = b'Content-Type: application/json; error="true"\r\n\r\n'
                body = orjson.dumps({"missing": entry.get("missing")})
            yield f"--{boundary}\r\n".encode() + head + body + b"\r\n"
        yield f"--{boundary}--".encode()

    return StreamingResponse(parts(), 200, media_type=f'multipart/mixed; boundary="{boundary}"')


@endpoint("design")
async def design(request: Request, ctx: SyncContext) -> Response:
    if request.method in ("GET", "HEAD"):
        return couch_error(404, "not_found", "missing")
    return couch_error(403, "forbidden", "design documents cannot be written by devices")
