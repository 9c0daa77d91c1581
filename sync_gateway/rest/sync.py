"""``/sync``: the CouchDB replication protocol, served to devices for their own database only.

Every request is authenticated (Bearer token, Basic, or the session cookie of session.py),
limited to ``rep_<own id>``, reduced to what a replicator needs, and forwarded to CouchDB with
the gateway's credentials. Errors use CouchDB's ``{"error", "reason"}`` body so replicators
understand them; while CouchDB is down the answer is ``503`` with ``Retry-After``.

    GET  /sync/                               server root
    GET|POST|DELETE /sync/_session            cookie sessions (session.py)
    GET  /sync/{db}                           database info (PUT: 412 exists; nothing else)
    GET|POST /sync/{db}/_changes              feeds.py
    POST /sync/{db}/_revs_diff | _bulk_get    validated, forwarded, streamed back; _revs_diff
                                              never asks for the device's own _design/ docs
    POST /sync/{db}/_bulk_docs                screened per document (writes.py), rest stored
    GET|POST /sync/{db}/_all_docs             paged, design documents hidden
    POST /sync/{db}/_ensure_full_commit       answered here (CouchDB 3 commits every write)
    GET|PUT|DELETE /sync/{db}/_local/{id}     replication checkpoints
    GET|PUT|DELETE /sync/{db}/{docid}[/{attachment}]
    GET|HEAD /sync/{db}/_snapshot             snapshot.py (first sync in one download)

Devices may send ``X-Device-Id`` (the device id rule of ``/api/v1/me/devices``; 400 otherwise)
so their pulls and pushes are recorded per device, up to the per-user cap of device records.
Attachments are served with ``nosniff``, a sandboxing CSP, and as downloads unless they are
plain images (:func:`attachment_headers`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route, Router
from starlette.types import Receive, Scope, Send

from .. import metrics
from ..auth.devices import DEVICE_ID_RE, DEVICE_ID_RULE
from ..couch import CouchHTTPError, CouchUnavailable, db_path, doc_path
from ..couch.client import RawResponse, segment
from ..feeds import FeedRequest, FeedRequestError
from ..gateway import Gateway
from ..gateway import of as gateway_of
from ..work import stage
from ..writes import REV_RE, merge_results, screen
from .cookies import CookieRefused, credentials
from .encoding import BodyError, gzip_bytes, gzip_stream, read_body, read_json, wants_gzip

JSON = "application/json"
MAX_LOCAL_DOC_BYTES = 64_000
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
SMALL_RESPONSE_BYTES = 512 * 1024
# attachment types a browser shows inline without running anything (SVG can carry script: not
# here); every other type is served as a download, and never sniffed into HTML
INLINE_ATTACHMENT_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
PASS_HEADERS = ("content-type", "etag", "content-encoding", "content-length")


class GatewayError(Exception):
    """A request the gateway answers itself with a CouchDB-style error."""

    def __init__(
        self, status: int, error: str, reason: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason
        self.headers = headers


def couch_error(
    status: int, error: str, reason: str, headers: dict[str, str] | None = None
) -> Response:
    if headers is None and status == 503:
        headers = {"Retry-After": "5"}
    if headers is None and status == 401:
        headers = {"WWW-Authenticate": 'Basic realm="fieldsync", Bearer'}
    return Response(
        orjson.dumps({"error": error, "reason": reason}), status, headers, media_type=JSON
    )


def json_response(request: Request, body: Any, status: int = 200) -> Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    if len(data) >= 1024 and wants_gzip(request):
        return Response(
            gzip_bytes(data),
            status,
            {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
            media_type=JSON,
        )
    return Response(data, status, media_type=JSON)


def stream_response(
    request: Request, chunks: AsyncIterator[bytes], media_type: str = JSON, feed: str | None = None
) -> StreamingResponse:
    headers = {"Cache-Control": "no-cache"}
    if wants_gzip(request):
        chunks = gzip_stream(chunks)
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    if feed is not None:
        chunks = _counted(chunks, feed)
    return StreamingResponse(chunks, media_type=media_type, headers=headers)


async def _counted(chunks: AsyncIterator[bytes], feed: str) -> AsyncIterator[bytes]:
    gauge = metrics.OPEN_FEEDS.labels(feed)
    gauge.inc()
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        gauge.dec()


Handler = Callable[[Request, "SyncContext"], Awaitable[Response]]


class SyncContext:
    """One authenticated request on the user's own database."""

    def __init__(self, gateway: Gateway, db: str, user_id: str, role: str, device_id: str) -> None:
        self.gateway = gateway
        self.runtime = runtime = gateway.runtime
        self.couch = runtime.couch
        self.settings = runtime.config
        self.db = db
        self.user_id = user_id
        self.role = role
        self.device_id = device_id


def endpoint(
    name: str, *, needs_db: bool = True
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: authenticate, check the database, map errors, count."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            started = time.perf_counter()
            try:
                ctx = await _authorize(request, needs_db)
                response = await handler(request, ctx)
            except GatewayError as exc:
                response = couch_error(exc.status, exc.error, exc.reason, exc.headers)
            except BodyError as exc:
                response = couch_error(exc.status, exc.error, exc.reason)
            except FeedRequestError as exc:
                response = couch_error(400, "bad_request", str(exc))
            except orjson.JSONEncodeError:
                response = couch_error(400, "bad_request", "the JSON nests too deeply to be stored")
            except CouchUnavailable:
                response = couch_error(
                    503, "service_unavailable", "the database is not answering; retry shortly"
                )
            except CouchHTTPError as exc:
                response = couch_error(exc.status, exc.error, exc.reason)
            except ClientDisconnect:
                # the device went away while sending (a phone losing signal): nobody to answer,
                # and nothing was done with a half-received body
                response = Response(status_code=499)
            metrics.REQUESTS.labels(name, str(response.status_code)).inc()
            metrics.LATENCY.labels(name).observe(time.perf_counter() - started)
            return response

        return run

    return wrap


async def _authorize(request: Request, needs_db: bool) -> SyncContext:
    from ..auth.errors import AuthenticationFailed
    from ..auth.throttle import SignInThrottled

    gateway = gateway_of(request)
    runtime = gateway.runtime
    if runtime.embedded is not None and not runtime.embedded.available:
        raise GatewayError(503, "service_unavailable", "the database is restarting; retry shortly")
    authenticator = gateway.auth.authenticator
    try:
        principal = await authenticator.authenticate(
            credentials(request), client=request.client.host if request.client else None
        )
    except AuthenticationFailed as exc:
        raise GatewayError(401, "unauthorized", str(exc)) from exc
    except CookieRefused as exc:
        raise GatewayError(403, "forbidden", str(exc)) from exc
    except SignInThrottled as exc:
        raise GatewayError(
            429, "too_many_requests", exc.reason, {"Retry-After": str(exc.retry_after_s)}
        ) from exc
    db = request.path_params.get("db", "")
    if needs_db:
        own = runtime.dbs.rep(principal.user_id) if principal.role in ("rep", "engineer") else None
        if db != own:
            raise GatewayError(
                403,
                "forbidden",
                f"you may only replicate your own database ({own})"
                if own
                else f"a {principal.role} has no database to replicate",
            )
    device = request.headers.get("x-device-id") or "unknown"
    if not DEVICE_ID_RE.match(device):
        # the rule of POST /api/v1/me/devices: no markup, no unbounded text in device records
        raise GatewayError(400, "bad_request", f"X-Device-Id is not valid: {DEVICE_ID_RULE}")
    return SyncContext(gateway, db, principal.user_id, principal.role, device)


def _record(ctx: SyncContext, request: Request, kind: str) -> None:
    ctx.gateway.activity.record(
        ctx.user_id, ctx.device_id, kind, request.headers.get("user-agent", "")
    )


def _shape_latest(ctx: SyncContext, params: dict[str, Any]) -> dict[str, Any]:
    """PouchDB Server 4.2 crashes on ``latest=true`` with a revision it does not have (one
    request from any device would take the database down). There the gateway drops ``latest``:
    the replicator then stores the revision it asked for and the next changes pass brings the
    newer leaf, so devices still converge. CouchDB gets ``latest`` as asked."""
    if ctx.gateway.backend_crashes_on_latest:
        params.pop("latest", None)
    return params


def _pushing(ctx: SyncContext) -> None:
    """A device is in the middle of a push (its ``_revs_diff``, its checkpoint): the router
    lets the push settle before carrying it in (router/settle.py)."""
    ctx.gateway.router.push_request_ended(ctx.db)


def _written(ctx: SyncContext) -> None:
    """Wake this user's other devices' live feeds and the router now, not at their next round."""
    ctx.gateway.live.notify(ctx.db)
    ctx.gateway.router.notify_rep_changed(ctx.user_id)


# -- server and database -------------------------------------------------------------------


async def server_root(request: Request) -> Response:
    from .snapshot import server_uuid

    return json_response(
        request,
        {
            "couchdb": "Welcome",
            **await server_uuid(gateway_of(request)),
            "version": "3.3.3",
            "vendor": {"name": "fieldsync sync gateway"},
            "features": ["access-ready"],
        },
    )


@endpoint("db")
async def database(request: Request, ctx: SyncContext) -> Response:
    if request.method == "PUT":
        return couch_error(
            412, "file_exists", "The database could not be created, the file already exists."
        )
    if request.method not in ("GET", "HEAD"):
        return couch_error(403, "forbidden", "devices cannot change databases")
    info = await ctx.couch.db_info(ctx.db)
    shown = {
        k: info[k]
        for k in (
            "db_name",
            "doc_count",
            "doc_del_count",
            "update_seq",
            "instance_start_time",
            "purge_seq",
        )
        if k in info
    }
    shown.setdefault("instance_start_time", "0")
    return json_response(request, shown)


@endpoint("ensure_full_commit")
async def ensure_full_commit(request: Request, ctx: SyncContext) -> Response:
    return json_response(request, {"ok": True, "instance_start_time": "0"}, 201)


# -- pull ----------------------------------------------------------------------------------


@endpoint("changes")
async def changes(request: Request, ctx: SyncContext) -> Response:
    body = None
    if request.method == "POST":
        raw = await read_body(request, ctx.settings.max_request_bytes)
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise GatewayError(400, "bad_request", f"invalid UTF-8 JSON: {exc}") from exc
            if not isinstance(body, dict):
                raise GatewayError(400, "bad_request", "the body must be a JSON object")
    req = FeedRequest.parse(request.query_params, body)
    feeds = ctx.gateway.feeds
    _record(ctx, request, "pull")
    if req.feed in ("continuous", "eventsource"):
        await ctx.couch.db_info(ctx.db)  # fail now with a status, not inside the stream
        media = "text/event-stream" if req.feed == "eventsource" else JSON
        return stream_response(
            request,
            feeds.continuous(ctx.db, req, eventsource=req.feed == "eventsource"),
            media,
            feed=req.feed,
        )
    first = await feeds.first_page(ctx.db, req)
    if req.feed == "longpoll":
        return stream_response(request, feeds.longpoll(ctx.db, req, first), feed="longpoll")
    if feeds.is_complete(req, first):
        # the usual replicator request (since + limit): one page, answered in one piece
        body = b"".join([chunk async for chunk in feeds.normal(ctx.db, req, first)])
        return json_response(request, body)
    return stream_response(request, feeds.normal(ctx.db, req, first))


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
    params = _shape_latest(
        ctx,
        {k: v for k, v in request.query_params.items() if k in ("revs", "attachments", "latest")},
    )
    metrics.DOCS_PULLED.inc(len(clean))
    _record(ctx, request, "pull")
    return await _forward(
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
        _pushing(ctx)  # a _bulk_docs of what is missing comes next
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


async def _forward(
    request: Request,
    ctx: SyncContext,
    method: str,
    path: str,
    params: dict[str, Any],
    content: bytes | None = None,
    accept: str = JSON,
) -> Response:
    """Send to CouchDB and stream its answer back without holding it whole."""
    headers = {"Accept": accept, "Content-Type": JSON}
    if wants_gzip(request):
        headers["Accept-Encoding"] = "gzip"
    else:
        headers["Accept-Encoding"] = "identity"
    resp = await ctx.couch.open(method, path, params=params, headers=headers, content=content)
    out_headers = {k: v for k, v in resp.headers.items() if k.lower() in PASS_HEADERS}
    length = resp.headers.get("content-length", "")
    if length.isdigit() and int(length) <= SMALL_RESPONSE_BYTES:
        # small answers in one piece: cheaper than streaming, and memory is bounded anyway
        return Response(await resp.read(), resp.status_code, out_headers)
    if resp.headers.get("content-encoding") == "gzip" or not wants_gzip(request):
        return StreamingResponse(_raw(resp), resp.status_code, out_headers)
    out_headers.pop("content-length", None)
    out_headers["Content-Encoding"] = "gzip"
    return StreamingResponse(gzip_stream(_raw(resp)), resp.status_code, out_headers)


async def _raw(resp: RawResponse) -> AsyncIterator[bytes]:
    """The body as CouchDB sends it; a break ends the stream (the client sees it cut short)."""
    try:
        async for chunk in resp.iter_raw():
            yield chunk
    except CouchUnavailable:
        return


# -- push ----------------------------------------------------------------------------------


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
    _record(ctx, request, "push")
    _written(ctx)
    return json_response(
        request, merge_results(screened, upstream, new_edits=new_edits, total=len(docs)), 201
    )


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
    _record(ctx, request, "push")
    _written(ctx)
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


def _doc_params(query: Any) -> dict[str, Any]:
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
    params = _shape_latest(ctx, _doc_params(request.query_params))
    _record(ctx, request, "pull")
    metrics.DOCS_PULLED.inc()
    accept = request.headers.get("accept", "")
    if "multipart/mixed" in accept and "open_revs" in params:
        return await _open_revs_multipart(request, ctx, doc_id, params)
    return await _forward(request, ctx, request.method, doc_path(ctx.db, doc_id), params)


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


@endpoint("attachment")
async def attachment(request: Request, ctx: SyncContext) -> Response:
    doc_id, name = request.path_params["docid"], request.path_params["attname"]
    if doc_id.startswith("_"):
        return couch_error(404, "not_found", "missing")
    if doc_id in (".", "..") or {".", ".."} & set(name.split("/")) or name.startswith("_"):
        return couch_error(400, "bad_request", f"attachment name {name!r} is not allowed")
    path = f"{doc_path(ctx.db, doc_id)}/{'/'.join(segment(part) for part in name.split('/'))}"
    if request.method in ("GET", "HEAD"):
        params = _doc_params({k: v for k, v in request.query_params.items() if k == "rev"})
        _record(ctx, request, "pull")
        resp = await ctx.couch.open(
            request.method, path, params=params, headers={"Accept-Encoding": "identity"}
        )
        headers = {k: v for k, v in resp.headers.items() if k.lower() in PASS_HEADERS}
        if resp.status_code < 300:
            headers.update(attachment_headers(resp.headers.get("content-type", "")))
        return StreamingResponse(_raw(resp), resp.status_code, headers)
    if request.method not in ("PUT", "DELETE"):
        return couch_error(405, "method_not_allowed", f"{request.method} is not allowed here")
    rev = request.query_params.get("rev")
    if not rev or not REV_RE.match(rev):
        raise GatewayError(409, "conflict", "Document update conflict: give ?rev=")
    parent = await ctx.couch.get(ctx.db, doc_id, rev=rev)
    if parent.get("type") != "visit_note" or parent.get("author_id") != ctx.user_id:
        return couch_error(403, "forbidden", "devices attach photos only to their own visit notes")
    body = (
        await read_body(request, ctx.settings.max_request_bytes)
        if request.method == "PUT"
        else None
    )
    result = await ctx.couch.request(
        request.method,
        path,
        params={"rev": rev},
        content=body,
        headers={
            "Content-Type": request.headers.get("content-type", "application/octet-stream"),
            "Accept": JSON,
        },
    )
    _record(ctx, request, "push")
    _written(ctx)
    return json_response(request, result, 201 if request.method == "PUT" else 200)


def attachment_headers(content_type: str) -> dict[str, str]:
    """What keeps an attachment a device uploaded (with the type it chose) from running as a
    page of this origin: no sniffing, no script, and a download unless it is a plain image."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if content_type.split(";", 1)[0].strip().lower() not in INLINE_ATTACHMENT_TYPES:
        headers["Content-Disposition"] = "attachment"
    return headers


@endpoint("local")
async def local_doc(request: Request, ctx: SyncContext) -> Response:
    local_id = request.path_params["localid"]
    if not local_id or len(local_id) > 256:
        raise GatewayError(400, "bad_request", "bad checkpoint id")
    path = doc_path(ctx.db, f"_local/{local_id}")
    if request.method == "GET":
        return json_response(request, await ctx.couch.request("GET", path))
    if request.method == "PUT":
        doc = await read_json(request, MAX_LOCAL_DOC_BYTES)
        if not isinstance(doc, dict):
            raise GatewayError(400, "bad_request", "a checkpoint is a JSON object")
        doc["_id"] = f"_local/{local_id}"
        _pushing(ctx)  # a replicator's checkpoint between two batches
        return json_response(request, await ctx.couch.request("PUT", path, json=doc), 201)
    if request.method == "DELETE":
        params = {"rev": request.query_params.get("rev", "")}
        return json_response(request, await ctx.couch.request("DELETE", path, params=params))
    return couch_error(405, "method_not_allowed", f"{request.method} is not allowed here")


@endpoint("design")
async def design(request: Request, ctx: SyncContext) -> Response:
    if request.method in ("GET", "HEAD"):
        return couch_error(404, "not_found", "missing")
    return couch_error(403, "forbidden", "design documents cannot be written by devices")


ALL = ["GET", "HEAD", "PUT", "POST", "DELETE", "COPY"]

routes = [
    Route("/sync/", server_root, methods=["GET", "HEAD"]),
    Route("/sync", server_root, methods=["GET", "HEAD"]),
    Route("/sync/{db}", database, methods=ALL),
    Route("/sync/{db}/", database, methods=ALL),
    Route("/sync/{db}/_changes", changes, methods=["GET", "POST"]),
    Route("/sync/{db}/_bulk_get", bulk_get, methods=["POST"]),
    Route("/sync/{db}/_revs_diff", revs_diff, methods=["POST"]),
    Route("/sync/{db}/_bulk_docs", bulk_docs, methods=["POST"]),
    Route("/sync/{db}/_all_docs", all_docs, methods=["GET", "POST"]),
    Route("/sync/{db}/_ensure_full_commit", ensure_full_commit, methods=["POST"]),
    Route("/sync/{db}/_local/{localid:path}", local_doc, methods=ALL),
    Route("/sync/{db}/_design/{rest:path}", design, methods=ALL),
    Route("/sync/{db}/{docid}", document, methods=ALL),
    Route("/sync/{db}/{docid}/{attname:path}", attachment, methods=ALL),
]


class SyncApp:
    """``/sync`` as an ASGI app of its own: the service sends these requests here directly,
    past the API's middleware and routes (a device pull makes hundreds of small requests, and
    every layer costs on each). Unknown paths and methods get CouchDB-style errors."""

    def __init__(self, extra_routes: Sequence[BaseRoute] = ()) -> None:
        from .snapshot import routes as snapshot_routes

        # extra routes (the /sync/_session of session.py) come first: "_session" is no database
        self.router = Router(
            routes=[*extra_routes, *snapshot_routes, *routes], default=self.not_found
        )

    @staticmethod
    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        await couch_error(404, "not_found", "missing")(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.router(scope, receive, send)
        except HTTPException as exc:  # raised by routing (a method a route does not take)
            error = "method_not_allowed" if exc.status_code == 405 else "bad_request"
            await couch_error(exc.status_code, error, str(exc.detail))(scope, receive, send)
