"""``GET|PUT|DELETE /sync/{db}/_local/{id}``: the replicator's checkpoints, as in CouchDB.

A checkpoint is a JSON object of at most ``MAX_LOCAL_DOC_BYTES``, with an id of 1-256
characters; it is stored in the user's own database and never replicated. Writing one is a
replicator's pause between two batches, so the router is told a push is under way.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..couch import doc_path
from .context import SyncContext, endpoint, mark_pushing
from .encoding import read_json
from .errors import GatewayError, couch_error
from .responses import json_response

MAX_LOCAL_DOC_BYTES = 64_000


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
        mark_pushing(ctx)  # a replicator's checkpoint between two batches
        return json_response(request, await ctx.couch.request("PUT", path, json=doc), 201)
    if request.method == "DELETE":
        params = {"rev": request.query_params.get("rev", "")}
        return json_response(request, await ctx.couch.request("DELETE", path, params=params))
    return couch_error(405, "method_not_allowed", f"{request.method} is not allowed here")
