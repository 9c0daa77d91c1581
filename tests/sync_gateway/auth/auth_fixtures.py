"""Fixtures of the auth tests: stores on this test's fresh databases of the real server.

Test modules import them (``from auth_fixtures import users_fixture``); this is not a conftest.py
because neighbouring tests import their own ``conftest`` by that module name. Each function is
named ``<fixture>_fixture`` so the import does not clash with the test parameter of that name.

Passwords use argon2 with small parameters so the store tests stay quick; the hashing code is the
real one (the service tests in tests/field_api use the production parameters).
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from sync_gateway.auth.devices import DeviceStore
from sync_gateway.auth.passwords import Passwords
from sync_gateway.auth.users import UserStore
from sync_gateway.config import GatewayConfig
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases, ensure_databases


@pytest.fixture(name="passwords")
def passwords_fixture() -> Passwords:
    return Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))


@pytest.fixture(name="settings")
def settings_fixture() -> GatewayConfig:
    return GatewayConfig(jwt_secret="unit-test-secret-unit-test-secret-0123", token_ttl_s=600)  # type: ignore[arg-type]


@pytest.fixture(name="users")
async def users_fixture(couch: CouchClient, dbs: Databases, passwords: Passwords) -> UserStore:
    await ensure_databases(couch, dbs)
    return UserStore(couch, dbs, passwords)


@pytest.fixture(name="devices")
async def devices_fixture(couch: CouchClient, dbs: Databases) -> DeviceStore:
    await ensure_databases(couch, dbs)
    return DeviceStore(couch, dbs)
