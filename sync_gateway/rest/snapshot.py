"""``GET|HEAD /sync/{db}/_snapshot``: the user's database as one download, for a first sync.

Authenticated and limited to the caller's own database by the same ``endpoint`` wrapper as the
rest of ``/sync``. The body is the stored dump (``snapshots/dump.py``: pouchdb-replication-stream's
format), streamed out of CouchDB chunk by chunk, never held whole:

    Accept-Encoding: gzip   the stored gzip bytes as they are, ``Content-Encoding: gzip``
    otherwise               the plain NDJSON, decompressed on the way out

Each representation has its own strong ``ETag``; ``If-None-Match`` answers 304; ``Range``
(one range, in the bytes of the representation sent) with ``If-Range`` answers 206 so a broken
download resumes where it stopped, or 200 with the whole new dump when the snapshot changed
meanwhile; 416 when the range is past the end. ``X-Fieldsync-Snapshot-Seq`` is the dump's sequence,
``X-Fieldsync-Snapshot-Lag`` how many updates the database had since, ``X-Fieldsync-Snapshot-Stale``
says when the builder is late (``snapshots/policy.py``; the follow-up replication brings the rest
either way). No snapshot yet: 404 (replicate normally), and the builder is asked for one.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import AsyncIterator
from email.utils import formatdate

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..couch import CouchError, CouchUnavailable
from ..couch.client import RawResponse
from ..gateway import Gateway, SnapshotWants
from ..server_id import server_uuid as read_server_uuid
from ..snapshots import SnapshotMissing
from ..snapshots.policy import Policy, is_stale, seq_number
from ..snapshots.store import Snapshot, SnapshotStore
from .context import SyncContext, endpoint, record_activity
from .encoding import wants_gzip
from .errors import couch_error

log = structlog.get_logger(__name__)

NDJSON = "application/x-ndjson"
GUNZIP_CHUNK = 256 * 1024
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


async def server_uuid(gateway: Gateway) -> dict[str, str]:
    """``{"uuid": ...}`` for ``GET /sync/`` (``server_id.py``), read once per process; empty
    while CouchDB cannot be read (PouchDB then names checkpoints after the URL)."""
    cached = gateway.server_uuid
    if cached is None:
        try:
            cached = await read_server_uuid(gateway.runtime.couch, gateway.runtime.dbs)
        except CouchError as exc:
            log.warning("server_uuid_unavailable", error=str(exc))
            return {}
        gateway.server_uuid = cached
    return {"uuid": cached}


def policy_of(ctx: SyncContext) -> Policy:
    s = ctx.settings
    return Policy(s.snapshot_min_docs, s.snapshot_rebuild_changes, s.snapshot_max_age_s)


def parse_range(header: str | None, total: int) -> tuple[int, int] | str | None:
    """``(first, last)`` inclusive for one satisfiable range; None to send everything (no or an
    unusable header); ``"unsatisfiable"`` when it starts past the end."""
    if not header:
        return None
    match = RANGE_RE.match(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None  # several ranges or a malformed one: RFC 9110 lets us send the whole
    first_s, last_s = match.groups()
    if first_s == "":
        suffix = int(last_s)
        if suffix == 0:
            return "unsatisfiable"
        return max(0, total - suffix), total - 1
    first = int(first_s)
    last = min(int(last_s), total - 1) if last_s else total - 1
    if first >= total or last < first:
        return "unsatisfiable"
    return first, last


@endpoint("snapshot")
async def snapshot(request: Request, ctx: SyncContext) -> Response:
    """The user's database as one dump (see the module docstring)."""
    store = SnapshotStore(ctx.couch, ctx.runtime.dbs)
    builder = ctx.gateway.snapshots
    gzipped = wants_gzip(request)
    try:
        if request.method == "HEAD":
            snap = await store.current(ctx.user_id)
            if snap is None:
                raise SnapshotMissing(ctx.user_id)
            resp = None
        else:
            snap, resp = await _open(store, ctx.user_id, request, gzipped)
    except SnapshotMissing:
        if builder is not None:
            builder.want(ctx.user_id)
        return couch_error(404, "not_found", "no snapshot of this database yet: replicate normally")
    try:
        headers = await _headers(ctx, snap, gzipped, builder)
    except BaseException:
        if resp is not None:
            resp.close()
        raise
    etag = headers["ETag"]
    total = snap.gz_bytes if gzipped else snap.raw_bytes
    if etag in _tags(request.headers.get("if-none-match")):
        if resp is not None:
            resp.close()
        return Response(status_code=304, headers=headers)
    if_range = request.headers.get("if-range")
    wanted = parse_range(request.headers.get("range"), total)
    if if_range is not None and if_range.strip() != etag:
        wanted = None  # the dump changed since the first part: start again
    if wanted == "unsatisfiable":
        if resp is not None:
            resp.close()
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{total}"})
    status = 200
    first, last = 0, total - 1
    if isinstance(wanted, tuple):
        status = 206
        first, last = wanted
        headers["Content-Range"] = f"bytes {first}-{last}/{total}"
    headers["Content-Length"] = str(last - first + 1)
    record_activity(ctx, request, "pull")
    if resp is None:  # HEAD
        return Response(status_code=status, headers=headers)
    return StreamingResponse(_body(resp, gzipped, first, last), status, headers)


async def _open(
    store: SnapshotStore, user_id: str, request: Request, gzipped: bool
) -> tuple[Snapshot, RawResponse]:
    """Open the stored dump; for the gzip representation, let CouchDB cut the range when it
    can (CouchDB 3 does for attachments; PouchDB Server sends all and :func:`_body` skips)."""

    def upstream_range(snap: Snapshot) -> str | None:
        if not gzipped:
            return None
        if_range = request.headers.get("if-range")
        if if_range is not None and if_range.strip() != snap.etag(True):
            return None
        wanted = parse_range(request.headers.get("range"), snap.gz_bytes)
        return f"bytes={wanted[0]}-{wanted[1]}" if isinstance(wanted, tuple) else None

    return await store.open(user_id, upstream_range)


async def _headers(
    ctx: SyncContext, snap: Snapshot, gzipped: bool, builder: SnapshotWants | None
) -> dict[str, str]:
    info = await ctx.couch.db_info(ctx.db)
    db_seq = seq_number(info.get("update_seq", 0))
    stale = is_stale(snap.seq_number, snap.built_at, db_seq, time.time(), policy_of(ctx))
    if stale and builder is not None:
        builder.want(ctx.user_id)
    headers = {
        "Content-Type": NDJSON,
        "ETag": snap.etag(gzipped),
        "Accept-Ranges": "bytes",
        "Vary": "Accept-Encoding",
        "Cache-Control": "private, no-cache",
        "Last-Modified": formatdate(snap.built_at, usegmt=True),
        "X-Fieldsync-Snapshot-Seq": orjson.dumps(snap.seq).decode(),
        "X-Fieldsync-Snapshot-Docs": str(snap.leaves),
        "X-Fieldsync-Snapshot-Lag": str(max(0, db_seq - snap.seq_number)),
        "X-Fieldsync-Snapshot-Stale": "true" if stale else "false",
    }
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return headers


def _tags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {t.strip().removeprefix("W/") for t in header.split(",")}


async def _body(resp: RawResponse, gzipped: bool, first: int, last: int) -> AsyncIterator[bytes]:
    """Bytes ``first..last`` of the representation; a break upstream ends the body short (the
    client sees fewer bytes than Content-Length and resumes with Range)."""
    if resp.status_code == 206 and gzipped:
        skip = 0  # CouchDB already cut it
    else:
        skip = first
    remaining = last - first + 1
    try:
        chunks = resp.iter_raw() if gzipped else _gunzip(resp.iter_raw())
        async for chunk in chunks:
            if skip:
                if len(chunk) <= skip:
                    skip -= len(chunk)
                    continue
                chunk = chunk[skip:]
                skip = 0
            if len(chunk) >= remaining:
                yield chunk[:remaining]
                return
            remaining -= len(chunk)
            yield chunk
    except CouchUnavailable:
        return
    finally:
        resp.close()


async def _gunzip(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    z = zlib.decompressobj(31)
    async for chunk in chunks:
        data = chunk
        while data:
            out = z.decompress(data, GUNZIP_CHUNK)  # bounded: JSON inflates tenfold
            if out:
                yield out
            data = z.unconsumed_tail
    rest = z.flush()
    if rest:
        yield rest


routes = [Route("/sync/{db}/_snapshot", snapshot, methods=["GET", "HEAD"])]
