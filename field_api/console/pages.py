"""The console's pages: Jinja2 shells that the page's own script fills from ``/api/v1``.

A page carries no data and needs no sign-in to load; its script finds the token in
``sessionStorage`` (or sends the person to the sign-in page) and asks the API, whose roles
decide what it gets. ``ROLE_PAGES`` is what the navigation offers each role.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

# (path, label, roles that see it in the navigation)
NAV: Final = (
    ("inbox", "Inbox", ("backoffice", "manager", "admin")),
    ("conflicts", "Conflicts", ("backoffice", "manager", "admin")),
    ("board", "Board", ("manager", "admin")),
    ("reports", "Reports", ("backoffice", "manager", "admin")),
    ("import", "Import", ("backoffice", "admin")),
)
CONSOLE_ROLES: Final = ("backoffice", "manager", "admin")


def _page(request: Request, name: str, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        f"{name}.html",
        {"page": name, "nav": NAV, "console_roles": CONSOLE_ROLES, **context},
    )


@router.get("/console")
@router.get("/console/")
async def home() -> RedirectResponse:
    return RedirectResponse("/console/inbox", status_code=307)


@router.get("/console/login", response_class=HTMLResponse)
async def login(request: Request) -> HTMLResponse:
    return _page(request, "login")


@router.get("/console/orders/{order_id}", response_class=HTMLResponse)
async def order(request: Request, order_id: str) -> HTMLResponse:
    return _page(request, "order", order_id=order_id)


def _simple(name: str) -> None:
    async def show(request: Request) -> HTMLResponse:
        return _page(request, name)

    router.add_api_route(f"/console/{name}", show, methods=["GET"], response_class=HTMLResponse)


for _name in ("inbox", "conflicts", "board", "reports", "import"):
    _simple(_name)


@router.get("/docs", response_class=HTMLResponse)
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI from the vendored swagger-ui-dist; its start-up is a static file."""
    return templates.TemplateResponse(request, "docs.html", {})
