"""Session-wide fixtures: a real CouchDB-protocol server and fresh databases per test.

The server is PouchDB Server started once per session on a free port with a temporary data
folder (with its admin: ``couch_url`` carries the credentials, as ``COUCHDB_URL`` does), or the
CouchDB at ``COUCHDB_URL`` when that is set. Each test gets its own database
prefix, so tests never see each other's data; the databases are deleted afterwards.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import settings

from sync_gateway.config import REPO_ROOT
from sync_gateway.couch import CouchClient
from sync_gateway.couch.embedded import EmbeddedCouch
from sync_gateway.databases import Databases

# the browser fixtures (page, app_origin) and their screenshot-on-failure hook
pytest_plugins = ["support.browser"]

_counter = itertools.count(1)

# Hypothesis budgets: the suite runs each property without a fixed budget at hypothesis'
# default (100 examples, what CI affords); a longer local run: --hypothesis-profile=long, or
# FIELDSYNC_HYPOTHESIS_PROFILE=long (e.g. with make test); add --timeout=0 on a busy machine.
settings.register_profile("long", max_examples=2_000, deadline=None)
if os.environ.get("FIELDSYNC_HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["FIELDSYNC_HYPOTHESIS_PROFILE"])


@pytest.fixture(scope="session")
async def embedded_couch(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[EmbeddedCouch | None]:
    if os.environ.get("COUCHDB_URL"):
        yield None
        return
    server = EmbeddedCouch(
        REPO_ROOT / "couchdb_embedded" / "node_modules", tmp_path_factory.mktemp("couchdb")
    )
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
def couch_url(embedded_couch: EmbeddedCouch | None) -> str:
    return os.environ.get("COUCHDB_URL") or (embedded_couch.admin_url if embedded_couch else "")


@pytest.fixture
async def couch(couch_url: str) -> AsyncIterator[CouchClient]:
    client = CouchClient(couch_url)
    yield client
    await client.aclose()


@pytest.fixture
async def dbs(couch: CouchClient) -> AsyncIterator[Databases]:
    """A fresh set of database names for this test; everything with its prefix is dropped after."""
    prefix = f"t{os.getpid()}_{next(_counter)}_"
    yield Databases(prefix)
    for db in await couch.all_dbs():
        if db.startswith(prefix):
            await couch.delete_db(db)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


class RunningService:
    """The whole service served by uvicorn on a free local port, in the test's event loop."""

    def __init__(self, app: object, settings: object, url: str) -> None:
        self.app = app
        self.settings = settings
        self.url = url

    @property
    def services(self):  # type: ignore[no-untyped-def]
        """The typed services the app started (field_api/container.py)."""
        return self.app.state.services  # type: ignore[attr-defined]

    @property
    def runtime(self):  # type: ignore[no-untyped-def]
        return self.services.runtime


@pytest.fixture
async def service_factory(couch_url: str, dbs: Databases):  # type: ignore[no-untyped-def]
    """Start services on this test's databases: ``await service_factory(**settings_overrides)``."""
    import asyncio

    import uvicorn

    from field_api.app import create_app
    from field_api.settings import Settings
    from sync_gateway.couch.embedded import free_port

    started: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(**overrides: object) -> RunningService:
        port = free_port()
        values: dict[str, object] = {
            "couchdb_url": couch_url,
            "db_prefix": dbs.prefix,
            "port": port,
            "jwt_secret": "test-secret-test-secret-test-secret",
            "admin_password": "admin-pass",
            # cheap password hashing: every test logs users in; tests/sync_gateway/auth covers
            # the real cost parameters
            "argon2_time_cost": 1,
            "argon2_memory_kib": 64,
        }
        values.update(overrides)
        settings = Settings(**values)  # type: ignore[arg-type]
        app = create_app(settings)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        task = asyncio.create_task(server.serve())
        for _ in range(400):
            if server.started or task.done():
                break
            await asyncio.sleep(0.025)
        if not server.started:
            if task.done():
                task.result()
            raise RuntimeError("the service did not start")
        started.append((server, task))
        return RunningService(app, settings, f"http://127.0.0.1:{port}")

    yield start
    for server, task in reversed(started):
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def service(service_factory):  # type: ignore[no-untyped-def]
    """One running service with default settings."""
    return await service_factory()
