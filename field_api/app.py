"""The application factory: the composition root of the service.

``create_app(settings)`` wires the CouchDB runtime, the sync gateway (``/sync``), the REST API
(``/api/v1``), health and metrics, and the background workers into one FastAPI app. Start-up
(:func:`start_services`) builds the typed :class:`~field_api.container.Services`, in this
order: CouchDB (embedded or external) → databases → auth services and the bootstrap admin →
the gateway (activity, change hub) → demo data (if asked and empty) → the notifier and the
workers. Shutdown reverses it. Each package gets its own config from ``settings``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from sync_gateway import auth as auth_services
from sync_gateway.auth.secret import resolve_jwt_secret
from sync_gateway.conflict_store import CouchConflictStore
from sync_gateway.databases import ensure_databases
from sync_gateway.gateway import Gateway
from sync_gateway.rest.cors import CorsPolicy
from sync_gateway.rest.session import routes as session_routes
from sync_gateway.rest.sync import SyncApp
from sync_gateway.runtime import Runtime

from . import console, problems
from .container import Services
from .routes import assignments as assignment_routes
from .routes import auth as auth_routes
from .routes import catalog as catalog_routes
from .routes import conflicts as conflict_routes
from .routes import events as event_routes
from .routes import health
from .routes import imports as import_routes
from .routes import masterdata as masterdata_routes
from .routes import notifications as notification_routes
from .routes import order_history as order_history_routes
from .routes import orders as order_routes
from .routes import previews as preview_routes
from .routes import reports as report_routes
from .routes import team as team_routes
from .routes import territories as territory_routes
from .routes import users as user_routes
from .routes import webhooks as webhook_routes
from .settings import Settings

log = structlog.get_logger(__name__)


# On every answer outside /sync (the API, its docs, health): no MIME sniffing, never framed
# (clickjacking of the console / docs), no URL (with its query: cursors, ids) leaked as Referer.
# A route's own value of one of these wins.
API_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
)


class FieldSyncApp(FastAPI):
    """The API, with ``/sync`` dispatched first and straight to the gateway's own router:
    devices make many small requests, and the API's middleware and route table cost on each
    (measured in the gateway's profile). CORS (when origins are configured) comes before both,
    so it covers ``/sync`` as well as ``/api``. Everything but ``/sync`` gets
    :data:`API_SECURITY_HEADERS`."""

    sync = SyncApp(extra_routes=session_routes)
    cors: CorsPolicy | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.cors is not None:
            await self.cors.serve(scope, receive, send, self._dispatch)
            return
        await self._dispatch(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == "/sync" or path.startswith("/sync/")):
            scope["app"] = self  # handlers find the runtime in request.app.state
            await self.sync(scope, receive, send)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in API_SECURITY_HEADERS if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_secured)


def create_app(settings: Settings) -> FastAPI:
    """Build the service for ``settings`` (the CLI or a test reads them).

    Raises :class:`~sync_gateway.auth.secret.InsecureSecret` when the token secret is missing,
    short or published (the service must not start with it).
    """
    settings.jwt_secret = resolve_jwt_secret(settings.gateway())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = await Runtime.start(settings.gateway())
        try:
            services = await start_services(settings, rt)
            app.state.services = services
            app.state.gateway = services.gateway  # where /sync finds it
            log.info("service_started", couchdb=rt.couch.url, prefix=rt.dbs.prefix or None)
            try:
                yield
            finally:
                await stop_services(services)
        finally:
            await rt.stop()

    app = FieldSyncApp(
        title="Field sync",
        version="0.1.0",
        description="Offline-first sync backend for field sales and service teams.",
        lifespan=lifespan,
        docs_url=None,  # the console serves /docs with a Swagger UI of its own, not a CDN's
        redoc_url=None,
    )
    if settings.cors_origins:
        app.cors = CorsPolicy(settings.cors_origins, settings.cors_max_age_s)
    app.state.cors = app.cors  # the /sync session checks cookie requests' origins against it
    problems.install(app)
    app.include_router(health.router)
    app.include_router(auth_routes.router)
    app.include_router(user_routes.router)
    app.include_router(conflict_routes.router)
    app.include_router(preview_routes.router)  # before /territories/{id}: more specific
    app.include_router(territory_routes.router)
    app.include_router(assignment_routes.router)
    app.include_router(masterdata_routes.router)
    app.include_router(order_routes.router)
    app.include_router(team_routes.router)
    app.include_router(webhook_routes.router)
    app.include_router(report_routes.router)
    app.include_router(notification_routes.router)
    app.include_router(event_routes.router)
    app.include_router(catalog_routes.router)
    app.include_router(order_history_routes.router)
    app.include_router(import_routes.router)
    console.install(app)
    return app


async def start_services(settings: Settings, rt: Runtime) -> Services:
    """Everything the service process runs, started in order (see the module docstring)."""
    await ensure_databases(rt.couch, rt.dbs)
    auth = auth_services.build(rt.couch, rt.dbs, rt.config)
    admin = settings.admin_password
    await auth_services.bootstrap(auth, admin.get_secret_value() if admin else None)
    gateway = await Gateway.start(rt, auth)
    services = Services(settings, rt, gateway, CouchConflictStore(rt.couch, rt.dbs))
    try:
        if settings.seed_demo:
            from .demo import seed_if_empty

            await seed_if_empty(rt, auth.users)
        if settings.run_workers:
            from .workers import start_workers

            workers = await start_workers(settings, rt, services.conflicts, gateway.live)
            services.workers = workers
            gateway.router = workers.router  # /sync tells it of pushes
            gateway.snapshots = workers.snapshots
    except BaseException:
        await gateway.stop()
        raise
    return services


async def stop_services(services: Services) -> None:
    if services.workers is not None:
        await services.workers.stop()
    await services.gateway.stop()
