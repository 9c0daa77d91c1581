"""The console's third-party assets, served from the npm packages pinned in
``couchdb_embedded/package-lock.json`` (installed by ``make setup``), never from a CDN.

Only the files listed in :data:`ASSETS` are served (no directory listing of node_modules).
``FIELDSYNC_NODE_MODULES`` points elsewhere (e.g. an image that copies the packages).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ..problems import NotFound

NODE_MODULES = Path(
    os.environ.get("FIELDSYNC_NODE_MODULES")
    or Path(__file__).resolve().parents[2] / "couchdb_embedded" / "node_modules"
)
# public name -> path inside node_modules
ASSETS: Final[dict[str, str]] = {
    "chart.umd.min.js": "chart.js/dist/chart.umd.min.js",
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "swagger-favicon-32x32.png": "swagger-ui-dist/favicon-32x32.png",
}
MEDIA = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}

router = APIRouter(include_in_schema=False)


@router.get("/console/vendor/{name}")
async def asset(name: str) -> FileResponse:
    rel = ASSETS.get(name)
    path = NODE_MODULES / rel if rel else None
    if path is None or not path.is_file():
        raise NotFound(
            f"no vendored asset {name!r}; `make setup` installs them (npm ci in couchdb_embedded)"
        )
    return FileResponse(
        path,
        media_type=MEDIA.get(path.suffix, "application/octet-stream"),
        headers={"Cache-Control": "public, max-age=86400"},
    )
