"""Health and metrics endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(runtime: RuntimeDep) -> JSONResponse:
    """200 when the service and CouchDB answer; 503 with the reason otherwise."""
    ok, reason = await runtime.couch_status()
    if ok:
        return JSONResponse({"status": "ok", "couchdb": "ok"})
    return JSONResponse(
        {"status": "unavailable", "couchdb": reason}, status_code=503, headers={"Retry-After": "5"}
    )


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
