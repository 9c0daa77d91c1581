"""Session-wide fixtures: a real CouchDB-protocol server and fresh databases per test.

The server is PouchDB Server started once per session on a free port with a temporary data
folder, or the CouchDB at ``COUCHDB_URL`` when that is set. Each test gets its own database
prefix, so tests never see each other's data; the databases are deleted afterwards.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sync_gateway.couch import CouchClient
from sync_gateway.couch.embedded import EmbeddedCouch
from sync_gateway.databases import Databases
from sync_gateway.settings import REPO_ROOT

_counter = itertools.count(1)


@pytest.fixture(scope="session")
async def embedded_couch(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedCouch | None]:
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
    return os.environ.get("COUCHDB_URL") or (embedded_couch.url if embedded_couch else "")


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
