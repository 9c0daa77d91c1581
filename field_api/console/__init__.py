"""The web console for the back office and managers, served at ``/console`` by the service.

    /console/                 -> the sign-in page or the person's start page
    /console/login            sign in (reps and engineers are refused: they use the app)
    /console/inbox            back office: orders, live; filters; search by account
    /console/orders/{id}      one order: lines, totals, account, revisions, conflicts, decisions
    /console/conflicts        the queue of conflict records
    /console/board            managers: territories, moves with preview, visits and work
                              orders, the team's sync health, account plots
    /console/reports          charts of the report endpoints, CSV download
    /console/import           CSV upload (the files of ``fieldsync import``)
    /console/static/...       the console's own CSS and JavaScript
    /console/vendor/...       pinned npm assets (couchdb_embedded/package-lock.json)
    /docs                     Swagger UI from the vendored swagger-ui-dist (no CDN)

Pages are Jinja2 shells; everything they show comes from the public ``/api/v1`` in the browser,
with the caller's bearer token kept in ``sessionStorage`` (nothing private, no cookie on /api,
so no CSRF). Data from devices is put in the page as text (``textContent``), never as HTML, and
no page has inline script or event-handler attributes, so ``script-src 'self'`` holds.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from . import pages, vendor

STATIC_DIR = pages.HERE / "static"


def install(app: FastAPI) -> None:
    """Mount the console's pages, its static files, the vendored assets and ``/docs``."""
    app.include_router(pages.router)
    app.include_router(vendor.router)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
