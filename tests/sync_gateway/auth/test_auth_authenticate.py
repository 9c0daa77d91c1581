"""Authenticator against the real server: Bearer and Basic, each refusal named, the caches."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest
from auth_fixtures import passwords_fixture, settings_fixture, users_fixture  # noqa: F401  (fixtures)
from polling import wait_until

from sync_gateway.auth import tokens
from sync_gateway.auth.authenticate import Authenticator, Principal
from sync_gateway.auth.errors import (
    AuthenticationFailed,
    NoCredentials,
    TokenExpired,
    TokenInvalid,
    TokenMalformed,
    TokenRevoked,
    UserDisabled,
    WrongCredentials,
)
from sync_gateway.auth.users import UserStore
from sync_gateway.config import GatewayConfig


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
async def authn(users: UserStore, settings: GatewayConfig) -> Authenticator:
    await users.create_user("ana", name="Ana Rep", role="rep", password="secret-123")
    return Authenticator(users, settings, user_ttl_s=0.5)


async def test_bearer_and_basic_give_the_same_principal(
    authn: Authenticator, settings: GatewayConfig
) -> None:
    user = await authn.store.require_user("ana")
    expected = Principal(user_id="ana", role="rep", name="Ana Rep")
    assert await authn.authenticate(f"Bearer {tokens.issue(user, settings)}") == expected
    assert await authn.authenticate(f"bearer  {tokens.issue(user, settings)} ") == expected
    assert await authn.authenticate(basic("ana", "secret-123")) == expected
    assert await authn.authenticate(basic("Ana", "secret-123")) == expected  # phones capitalise


@pytest.mark.parametrize(
    ("header", "error", "reason"),
    [
        (None, NoCredentials, "no credentials"),
        ("", NoCredentials, "no credentials"),
        ("Bearer ", NoCredentials, "no credentials"),
        ("Bearer not.a.jwt", TokenMalformed, "malformed"),
        ("Digest abc", AuthenticationFailed, "unsupported"),
        ("Basic !!!", AuthenticationFailed, "base64"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), AuthenticationFailed, "base64"),
        (basic("ana", "wrong-pass"), WrongCredentials, "wrong user name or password"),
        (basic("nobody", "secret-123"), WrongCredentials, "wrong user name or password"),
        (basic("../x", "secret-123"), WrongCredentials, "wrong user name or password"),
    ],
)
async def test_refusals_name_their_reason(
    authn: Authenticator, header: str | None, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        await authn.authenticate(header)


async def test_expired_and_forged_tokens(authn: Authenticator, settings: GatewayConfig) -> None:
    user = await authn.store.require_user("ana")
    expired = tokens.issue(user, settings, now=time.time() - settings.token_ttl_s - 5)
    with pytest.raises(TokenExpired, match="expired"):
        await authn.authenticate(f"Bearer {expired}")
    other = GatewayConfig(jwt_secret="not-our-secret-not-our-secret-000")  # type: ignore[arg-type]
    with pytest.raises(TokenInvalid, match="signature"):
        await authn.authenticate(f"Bearer {tokens.issue(user, other)}")


async def test_role_comes_from_the_user_not_the_token(
    authn: Authenticator, settings: GatewayConfig
) -> None:
    forged_role = tokens.issue({"id": "ana", "role": "admin"}, settings)
    principal = await authn.authenticate(f"Bearer {forged_role}")
    assert principal.role == "rep"


async def test_revocation_refuses_older_tokens_only(
    authn: Authenticator, settings: GatewayConfig
) -> None:
    user = await authn.store.require_user("ana")
    old = tokens.issue(user, settings)
    await authn.store.revoke_tokens("ana")
    authn.forget("ana")
    with pytest.raises(TokenRevoked, match="revoked"):
        await authn.authenticate(f"Bearer {old}")
    fresh = tokens.issue(user, settings)  # same second as the revocation, but after it
    assert (await authn.authenticate(f"Bearer {fresh}")).user_id == "ana"


async def test_changes_by_another_process_apply_within_the_cache_window(
    authn: Authenticator, users: UserStore, settings: GatewayConfig
) -> None:
    token = f"Bearer {tokens.issue(await users.require_user('ana'), settings)}"
    await authn.authenticate(token)  # now cached
    await authn.authenticate(basic("ana", "secret-123"))
    # another process (another store, no forget() here) disables the user
    other = UserStore(users.couch, users.dbs, users.passwords)
    await other.set_active("ana", False)

    async def refused(header: str) -> bool:
        try:
            await authn.authenticate(header)
        except UserDisabled:
            return True
        return False

    await wait_until(lambda: refused(token), timeout=5, message="disabled user refused (Bearer)")
    assert await refused(basic("ana", "secret-123"))
    await other.set_active("ana", True)
    await other.revoke_tokens("ana")

    async def revoked() -> bool:
        try:
            await authn.authenticate(token)
        except TokenRevoked:
            return True
        except UserDisabled:  # the cached document from before the re-enable
            return False
        return False

    await wait_until(revoked, timeout=5, message="revoked token refused")


async def test_password_change_ends_cached_basic(authn: Authenticator, users: UserStore) -> None:
    await authn.authenticate(basic("ana", "secret-123"))
    await users.set_password("ana", "new-secret-456")

    async def old_refused() -> bool:
        try:
            await authn.authenticate(basic("ana", "secret-123"))
        except WrongCredentials:
            return True
        return False

    await wait_until(old_refused, timeout=5, message="old password refused")
    assert (await authn.authenticate(basic("ana", "new-secret-456"))).user_id == "ana"


async def test_basic_success_is_cached_and_failures_are_not(authn: Authenticator) -> None:
    header = basic("ana", "secret-123")
    await authn.authenticate(header)
    # hide the hash from the verifier: a cached success needs no argon2 at all
    calls: list[str] = []
    real = authn.store.passwords.averify

    async def counting(password_hash: str | None, password: str) -> bool:
        calls.append(password)
        return await real(password_hash, password)

    authn.store.passwords.averify = counting  # type: ignore[method-assign]
    for _ in range(5):
        await authn.authenticate(header)
    assert calls == []
    for _ in range(3):
        with pytest.raises(WrongCredentials):
            await authn.authenticate(basic("ana", "wrong-pass"))
    assert calls == ["wrong-pass"] * 3


async def test_concurrent_cold_basic_runs_argon2_once(authn: Authenticator) -> None:
    calls: list[str] = []
    real = authn.store.passwords.averify

    async def counting(password_hash: str | None, password: str) -> bool:
        calls.append(password)
        return await real(password_hash, password)

    authn.store.passwords.averify = counting  # type: ignore[method-assign]
    header = basic("ana", "secret-123")
    principals = await asyncio.gather(*(authn.authenticate(header) for _ in range(10)))
    assert {p.user_id for p in principals} == {"ana"}
    assert calls == ["secret-123"]


async def test_a_cached_token_still_expires(authn: Authenticator, settings: GatewayConfig) -> None:
    """Verified claims are kept to skip the signature check, never past the token's ``exp``."""
    user = await authn.store.require_user("ana")
    # exp = floor(iat) + ttl: issued so that it expires about 1.5 s from now
    token = tokens.issue(user, settings, now=time.time() - settings.token_ttl_s + 1.5)
    assert (await authn.authenticate(f"Bearer {token}")).user_id == "ana"
    assert (await authn.authenticate(f"Bearer {token}")).user_id == "ana"  # from the cache
    claims = tokens.decode(token, settings)
    await asyncio.sleep(max(0.0, claims.exp - time.time()) + 0.05)
    with pytest.raises(TokenExpired, match="expired"):
        await authn.authenticate(f"Bearer {token}")


async def test_a_forged_token_is_not_taken_from_the_cache(
    authn: Authenticator, settings: GatewayConfig
) -> None:
    """The cache is keyed by the whole token: changing its signature misses and fails."""
    user = await authn.store.require_user("ana")
    token = tokens.issue(user, settings)
    await authn.authenticate(f"Bearer {token}")
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(TokenInvalid):
        await authn.authenticate(f"Bearer {forged}")
