"""UserStore against the real server: creation rules, databases, changes, the bootstrap admin."""

from __future__ import annotations

import asyncio
import time

import pytest
from auth_fixtures import passwords_fixture, users_fixture  # noqa: F401  (fixtures)

from sync_gateway.auth.errors import InvalidInput, UserExists, UserNotFound
from sync_gateway.auth.users import UserStore, public_view
from sync_gateway.couch import CouchClient
from sync_gateway.databases import Databases


async def test_create_rep_makes_user_document_and_database(
    users: UserStore, couch: CouchClient, dbs: Databases
) -> None:
    doc = await users.create_user(
        "ana", name="Ana Rep", role="rep", password="secret-123", time_zone="Europe/Lisbon"
    )
    stored = await couch.get(dbs.ops, "user:ana")
    assert stored["_rev"] == doc["_rev"]
    assert {k: stored[k] for k in ("type", "id", "name", "role", "time_zone", "active")} == {
        "type": "user",
        "id": "ana",
        "name": "Ana Rep",
        "role": "rep",
        "time_zone": "Europe/Lisbon",
        "active": True,
    }
    assert stored["tokens_valid_after"] is None
    assert stored["password_hash"].startswith("$argon2id$")
    assert users.passwords.verify(stored["password_hash"], "secret-123")
    assert await couch.db_exists(dbs.rep("ana"))
    assert "password_hash" not in public_view(stored)


@pytest.mark.parametrize("role", ["manager", "backoffice", "admin"])
async def test_office_roles_get_no_database(
    users: UserStore, couch: CouchClient, dbs: Databases, role: str
) -> None:
    await users.create_user("olga", name="Olga", role=role, password="secret-123")
    assert not await couch.db_exists(dbs.rep("olga"))


async def test_engineer_gets_a_database(
    users: UserStore, couch: CouchClient, dbs: Databases
) -> None:
    await users.create_user("eng", name="Eng", role="engineer", password="secret-123")
    assert await couch.db_exists(dbs.rep("eng"))


async def test_duplicate_user_is_refused(users: UserStore) -> None:
    await users.create_user("ana", name="Ana", role="rep", password="secret-123")
    with pytest.raises(UserExists, match="already exists"):
        await users.create_user("ana", name="Other Ana", role="manager", password="secret-456")
    assert (await users.require_user("ana"))["name"] == "Ana"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"user_id": "Ana"}, "user id"),
        ({"user_id": "9lives"}, "user id"),
        ({"user_id": "a" * 64}, "user id"),
        ({"user_id": "ana/x"}, "user id"),
        ({"role": "root"}, "role"),
        ({"password": "short"}, "at least 8"),
        ({"time_zone": "Mars/Olympus"}, "IANA"),
        ({"time_zone": "../etc/passwd"}, "IANA"),
        ({"name": "   "}, "name"),
    ],
)
async def test_invalid_users_are_refused_with_a_reason(
    users: UserStore, couch: CouchClient, dbs: Databases, kwargs: dict[str, str], reason: str
) -> None:
    args = {"user_id": "ana", "name": "Ana", "role": "rep", "password": "secret-123"} | kwargs
    user_id = args.pop("user_id")
    with pytest.raises(InvalidInput, match=reason):
        await users.create_user(user_id, **args)
    assert await users.list_users() == []


async def test_list_users_by_role(users: UserStore) -> None:
    for user_id, role in [("bo", "backoffice"), ("ana", "rep"), ("max", "manager"), ("rui", "rep")]:
        await users.create_user(user_id, name=user_id, role=role, password="secret-123")
    assert [u["id"] for u in await users.list_users()] == ["ana", "bo", "max", "rui"]
    assert [u["id"] for u in await users.list_users(role="rep")] == ["ana", "rui"]


async def test_changes_and_revocation(users: UserStore) -> None:
    await users.create_user("ana", name="Ana", role="rep", password="secret-123")
    before = time.time()
    revoked = await users.revoke_tokens("ana")
    assert before <= revoked["tokens_valid_after"] <= time.time()
    changed = await users.set_password("ana", "new-secret-456")
    assert users.passwords.verify(changed["password_hash"], "new-secret-456")
    assert not users.passwords.verify(changed["password_hash"], "secret-123")
    disabled = await users.set_active("ana", False)
    assert disabled["active"] is False
    renamed = await users.update_profile("ana", name="Ana Maria", time_zone="America/Sao_Paulo")
    assert (renamed["name"], renamed["time_zone"], renamed["active"]) == (
        "Ana Maria",
        "America/Sao_Paulo",
        False,
    )
    with pytest.raises(UserNotFound):
        await users.revoke_tokens("nobody")


async def test_concurrent_changes_are_all_kept(users: UserStore) -> None:
    await users.create_user("ana", name="Ana", role="rep", password="secret-123")
    await asyncio.gather(
        users.set_active("ana", False),
        users.revoke_tokens("ana"),
        users.update_profile("ana", time_zone="Asia/Tokyo"),
    )
    doc = await users.require_user("ana")
    assert doc["active"] is False
    assert doc["tokens_valid_after"] is not None
    assert doc["time_zone"] == "Asia/Tokyo"


async def test_bootstrap_admin_is_created_once(users: UserStore) -> None:
    assert await users.ensure_bootstrap_admin("admin-pass") is True
    assert await users.ensure_bootstrap_admin("other-pass") is False
    admins = await users.list_users(role="admin")
    assert [a["id"] for a in admins] == ["admin"]
    assert users.passwords.verify(admins[0]["password_hash"], "admin-pass")


async def test_bootstrap_admin_race_creates_exactly_one(
    users: UserStore, couch: CouchClient, dbs: Databases
) -> None:
    # two stores = two processes starting at the same moment
    other = UserStore(couch, dbs, users.passwords)
    results = await asyncio.gather(
        users.ensure_bootstrap_admin("admin-pass-1"),
        other.ensure_bootstrap_admin("admin-pass-2"),
    )
    assert sorted(results) == [False, True]
    admins = await users.list_users(role="admin")
    assert len(admins) == 1
    winner = "admin-pass-1" if results[0] else "admin-pass-2"
    assert users.passwords.verify(admins[0]["password_hash"], winner)


async def test_no_bootstrap_when_another_admin_exists(users: UserStore) -> None:
    await users.create_user("root", name="Root", role="admin", password="secret-123")
    assert await users.ensure_bootstrap_admin("admin-pass") is False
    assert await users.get_user("admin") is None
