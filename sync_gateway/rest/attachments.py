"""``GET|PUT|DELETE /sync/{db}/{docid}/{attachment}``: photos of visit notes.

Reads stream CouchDB's bytes through with :func:`attachment_headers`: ``nosniff``, a
sandboxing CSP, and a download unless the type is a plain image, so nothing a device uploaded
runs as a page of this origin. Writes need ``?rev=`` and are allowed only on the caller's own
visit notes (the owner field of ``mobile_schema.OWNER_FIELD``). Names with ``.`` / ``..``
segments or a leading ``_`` are a 400.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mobile_schema import OWNER_FIELD

from ..couch import doc_path
from ..couch.client import segment
from ..writes import REV_RE
from .context import SyncContext, endpoint, notify_written, record_activity
from .documents import doc_params
from .encoding import read_body
from .errors import JSON, GatewayError, couch_error
from .responses import PASS_HEADERS, json_response, raw_body

NOTE_OWNER = OWNER_FIELD["visit_note"]  # photos belong to the note's author

# attachment types a browser shows inline without running anything (SVG can carry script: not
# here); every other type is served as a download, and never sniffed into HTML
INLINE_ATTACHMENT_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@endpoint("attachment")
async def attachment(request: Request, ctx: SyncContext) -> Response:
    doc_id, name = request.path_params["docid"], request.path_params["attname"]
    if doc_id.startswith("_"):
        return couch_error(404, "not_found", "missing")
    if doc_id in (".", "..") or {".", ".."} & set(name.split("/")) or name.startswith("_"):
        return couch_error(400, "bad_request", f"attachment name {name!r} is not allowed")
    path = f"{doc_path(ctx.db, doc_id)}/{'/'.join(segment(part) for part in name.split('/'))}"
    if request.method in ("GET", "HEAD"):
        params = doc_params({k: v for k, v in request.query_params.items() if k == "rev"})
        record_activity(ctx, request, "pull")
        resp = await ctx.couch.open(
            request.method, path, params=params, headers={"Accept-Encoding": "identity"}
        )
        headers = {k: v for k, v in resp.headers.items() if k.lower() in PASS_HEADERS}
        if resp.status_code < 300:
            headers.update(attachment_headers(resp.headers.get("content-type", "")))
        return StreamingResponse(raw_body(resp), resp.status_code, headers)
    if request.method not in ("PUT", "DELETE"):
        return couch_error(405, "method_not_allowed", f"{request.method} is not allowed here")
    rev = request.query_params.get("rev")
    if not rev or not REV_RE.match(rev):
        raise GatewayError(409, "conflict", "Document update conflict: give ?rev=")
    parent = await ctx.couch.get(ctx.db, doc_id, rev=rev)
    if parent.get("type") != "visit_note" or parent.get(NOTE_OWNER) != ctx.user_id:
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
    record_activity(ctx, request, "push")
    notify_written(ctx)
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
