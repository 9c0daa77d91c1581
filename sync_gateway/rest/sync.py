"""``/sync``: the CouchDB replication protocol, served to devices for their own database only.

Every request is authenticated (Bearer token, Basic, or the session cookie of session.py),
limited to ``rep_<own id>``, reduced to what a replicator needs, and forwarded to CouchDB with
the gateway's credentials. Errors use CouchDB's ``{"error", "reason"}`` body so replicators
understand them; while CouchDB is down the answer is ``503`` with ``Retry-After``.

This module assembles the routes; each API area has a module of its own, as Sync Gateway's
``rest/`` has (the wrapper every endpoint runs in is ``context.py``, the answer forms
``responses.py``, the error shape ``errors.py``):

    GET  /sync/                               server.py     server root
    GET|POST|DELETE /sync/_session            session.py    cookie sessions
    GET  /sync/{db}                           server.py     database info (PUT: 412 exists)
    POST /sync/{db}/_ensure_full_commit       server.py     (CouchDB 3 commits every write)
    GET|POST /sync/{db}/_changes              changes.py    (the feeds of feeds.py)
    POST /sync/{db}/_revs_diff | _bulk_get    bulk.py       validated, forwarded, streamed back
    POST /sync/{db}/_bulk_docs                bulk.py       screened per document, rest stored
    GET|POST /sync/{db}/_all_docs             bulk.py       paged, design documents hidden
    GET|PUT|DELETE /sync/{db}/_local/{id}     local.py      replication checkpoints
    GET|PUT|DELETE /sync/{db}/{docid}         documents.py  (_design/ hidden and read-only)
    GET|PUT|DELETE /sync/{db}/{docid}/{att}   attachments.py
    GET|HEAD /sync/{db}/_snapshot             snapshot.py   first sync in one download

Unknown paths are CouchDB's 404 ``not_found``, a method a route does not take its 405.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Route, Router
from starlette.types import Receive, Scope, Send

from .attachments import attachment
from .bulk import all_docs, bulk_docs, bulk_get, revs_diff
from .changes import changes
from .documents import design, document
from .errors import couch_error
from .local import local_doc
from .server import database, ensure_full_commit, server_root
from .snapshot import routes as snapshot_routes

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
