"""CSV import over HTTP: the files ``fieldsync import`` takes, uploaded (back office, admin).

GET  /api/v1/import                               the kinds and their columns
POST /api/v1/import/{kind}?skip_bad_rows=false    body: the CSV file (text/csv), at most 20 MB

The rules (header, per-row validation, nothing written when a row is bad unless
``skip_bad_rows``) are :mod:`field_api.importer`'s, as for the command; docs/import.md.

Answer (``application/json``): 200 with the result when the file was imported, 422 problem+json
with the same fields when it was refused::

    {"kind", "rows", "documents", "written", "unchanged", "refused", "bad_rows",
     "errors": [{"line", "column", "reason"}], "write_errors": [{"id", "error", "reason"}]}

With ``Accept: application/x-ndjson`` the answer is a stream (always 200): one line
``{"progress": {"done", "total"}}`` per batch written, then ``{"result": {...}}``.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from sync_gateway.auth.authenticate import Principal

from .. import importer
from ..deps import RuntimeDep, require_roles
from ..problems import PROBLEM, ApiError

router = APIRouter(prefix="/api/v1/import", tags=["master data"])

BackOffice = Annotated[Principal, Depends(require_roles("backoffice", "admin"))]
Kind = Literal["products", "accounts", "contacts", "price-lists"]
MAX_BYTES = 20_000_000
NDJSON = "application/x-ndjson"


class TooLarge(ApiError):
    status = 413
    title = "File too large"


def _result(result: importer.ImportResult) -> dict[str, Any]:
    return {
        "kind": result.kind,
        "rows": result.rows,
        "documents": result.documents,
        "written": result.written,
        "unchanged": result.unchanged,
        "refused": result.refused,
        "bad_rows": result.bad_rows,
        "errors": [{"line": e.line, "column": e.column, "reason": e.reason} for e in result.errors],
        "write_errors": result.write_errors,
    }


@router.get("")
async def import_kinds(_: BackOffice) -> dict[str, Any]:
    """The kinds of file and their columns (required ones marked)."""
    return {
        kind: [
            {"column": column, "required": required, "what": what}
            for column, (required, what) in columns.items()
        ]
        for kind, columns in importer.COLUMNS.items()
    }


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)  # a local temporary file: no need to leave the loop for it


async def _body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            raise TooLarge(f"the file is over {MAX_BYTES // 1_000_000} MB; split it and send parts")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/{kind}",
    responses={
        200: {"content": {NDJSON: {}}, "description": "imported (or the NDJSON stream)"},
        413: {"description": "file too large"},
        422: {"description": "refused: a bad header or bad rows, listed in `errors`"},
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
async def import_csv(
    kind: Kind,
    request: Request,
    _: BackOffice,
    rt: RuntimeDep,
    skip_bad_rows: bool = False,
) -> Response:
    """Import one CSV file of products, accounts, contacts or price lists."""
    data = await _body(request)
    # the importer reads a file (as the command does): a temporary one, gone afterwards
    tmp = tempfile.NamedTemporaryFile(prefix="fieldsync-import-", suffix=".csv", delete=False)
    path = Path(tmp.name)
    with tmp:
        tmp.write(data)
    if NDJSON in request.headers.get("accept", ""):
        return StreamingResponse(_stream(rt, kind, path, skip_bad_rows), media_type=NDJSON)
    try:
        result = await importer.import_file(
            rt.couch, rt.dbs.master, kind, path, skip_bad_rows=skip_bad_rows
        )
    finally:
        _discard(path)
    body = _result(result)
    if result.refused:
        detail = f"nothing imported: {len(result.errors)} error(s); first: {result.errors[0]}"
        return JSONResponse(
            {"type": "about:blank", "title": "Invalid input", "status": 422, "detail": detail}
            | body,
            status_code=422,
            media_type=PROBLEM,
        )
    return JSONResponse(body)


async def _stream(rt: Any, kind: str, path: Path, skip: bool) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    try:
        task = asyncio.ensure_future(
            importer.import_file(
                rt.couch,
                rt.dbs.master,
                kind,
                path,
                skip_bad_rows=skip,
                progress=lambda done, total: queue.put_nowait((done, total)),
            )
        )
        while not task.done() or not queue.empty():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                done, total = getter.result()
                yield orjson.dumps({"progress": {"done": done, "total": total}}) + b"\n"
            else:
                getter.cancel()
        yield orjson.dumps({"result": _result(task.result())}) + b"\n"
    finally:
        _discard(path)
