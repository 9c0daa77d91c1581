"""The server root and the database itself: ``GET /sync/``, ``/sync/{db}``, ``_ensure_full_commit``.

GET  /sync/ (or /sync)            CouchDB's welcome, with the deployment's ``uuid``
                                  (PouchDB names its checkpoints after it: snapshot.py)
GET|HEAD /sync/{db}               database info, reduced to what replicators read
PUT  /sync/{db}                   412 file_exists (replicators "create" the target)
anything else on /sync/{db}       403: devices cannot change databases
POST /sync/{db}/_ensure_full_commit   answered here: CouchDB 3 commits every write
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..gateway import of as gateway_of
from .context import SyncContext, endpoint
from .errors import couch_error
from .responses import json_response
from .snapshot import server_uuid


async def server_root(request: Request) -> Response:
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
