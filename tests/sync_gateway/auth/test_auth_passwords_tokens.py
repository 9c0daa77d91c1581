"""Pure parts of auth: argon2 hashing, JWT issue/decode with each failure named, the TTL cache."""

from __future__ import annotations

import base64
import math
import time

import jwt
import orjson
import pytest
from argon2 import PasswordHasher
from auth_fixtures import passwords_fixture, settings_fixture  # noqa: F401  (fixtures)
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sync_gateway.auth import tokens
from sync_gateway.auth.cache import TTLCache
from sync_gateway.auth.errors import TokenExpired, TokenInvalid, TokenMalformed
from sync_gateway.auth.passwords import Passwords
from sync_gateway.config import GatewayConfig

# -- passwords -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "given_pw", "ok"),
    [
        ("correct horse", "correct horse", True),
        ("correct horse", "correct horsE", False),
        ("correct horse", "", False),
        ("ünïcødé-pässwörd", "ünïcødé-pässwörd", True),
    ],
)
def test_verify(passwords: Passwords, stored: str, given_pw: str, ok: bool) -> None:
    assert passwords.verify(passwords.hash(stored), given_pw) is ok


@pytest.mark.parametrize("bad_hash", [None, "", "not-a-hash", "$argon2id$v=19$garbage"])
def test_unusable_hash_never_verifies(passwords: Passwords, bad_hash: str | None) -> None:
    # the dummy hash stands in for a missing user: even its own password must not pass
    assert passwords.verify(bad_hash, "not-a-real-password") is False


def test_hashes_are_salted_and_rehash_follows_parameters(passwords: Passwords) -> None:
    first, second = passwords.hash("same password"), passwords.hash("same password")
    assert first != second and first.startswith("$argon2id$")
    assert not passwords.needs_rehash(first)
    stronger = Passwords(PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1))
    assert stronger.needs_rehash(first)
    assert stronger.verify(first, "same password")  # old hashes keep working


# -- tokens ----------------------------------------------------------------------------------

USER = {"id": "ana", "role": "rep"}


def test_issue_and_decode_round_trip(settings: GatewayConfig) -> None:
    now = math.floor(time.time()) - 10 + 0.25  # the fraction survives: revocation needs it
    claims = tokens.decode(tokens.issue(USER, settings, now=now), settings)
    assert (claims.sub, claims.role, claims.iat) == ("ana", "rep", now)
    assert claims.exp == math.floor(now) + settings.token_ttl_s
    assert len(claims.jti) == 24


def test_each_token_has_its_own_id(settings: GatewayConfig) -> None:
    assert tokens.issue(USER, settings) != tokens.issue(USER, settings)


def test_expired_token(settings: GatewayConfig) -> None:
    old = tokens.issue(USER, settings, now=1_000_000_000)
    with pytest.raises(TokenExpired, match="expired"):
        tokens.decode(old, settings)


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_tampered_and_foreign_tokens_are_invalid(settings: GatewayConfig) -> None:
    token = tokens.issue(USER, settings)
    with pytest.raises(TokenInvalid, match="signature"):
        tokens.decode(_tamper(token), settings)
    other = GatewayConfig(jwt_secret="another-secret-another-secret-another")  # type: ignore[arg-type]
    with pytest.raises(TokenInvalid, match="signature"):
        tokens.decode(tokens.issue(USER, other), settings)


def test_other_algorithms_and_missing_claims_are_invalid(settings: GatewayConfig) -> None:
    secret = settings.jwt_secret.get_secret_value()
    unsigned = jwt.encode({"sub": "ana"}, None, algorithm="none")
    with pytest.raises(TokenInvalid):
        tokens.decode(unsigned, settings)
    no_role = jwt.encode({"sub": "ana", "iat": 1, "exp": 9e9, "jti": "x"}, secret, "HS256")
    with pytest.raises(TokenInvalid, match="role"):
        tokens.decode(no_role, settings)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 500, "ey.ey.ey"])
def test_malformed_tokens(settings: GatewayConfig, garbage: str) -> None:
    with pytest.raises(TokenMalformed, match="malformed"):
        tokens.decode(garbage, settings)


@hsettings(max_examples=50)
@given(
    user_id=st.from_regex(r"[a-z][a-z0-9_-]{0,62}", fullmatch=True),
    role=st.sampled_from(["rep", "engineer", "manager", "backoffice", "admin"]),
)
def test_round_trip_property(user_id: str, role: str) -> None:
    s = GatewayConfig(jwt_secret="prop-secret-prop-secret-prop-secret-00")  # type: ignore[arg-type]
    claims = tokens.decode(tokens.issue({"id": user_id, "role": role}, s), s)
    assert (claims.sub, claims.role) == (user_id, role)


# -- TTL cache -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_entries_expire() -> None:
    clock = Clock()
    cache: TTLCache[str, int] = TTLCache(5.0, clock=clock)
    cache.set("a", 1)
    clock.now = 4.999
    assert cache.get("a") == 1
    clock.now = 5.0
    assert cache.get("a") is None
    assert len(cache) == 0


def test_cache_is_bounded_and_evicts_expired_then_oldest() -> None:
    clock = Clock()
    cache: TTLCache[int, int] = TTLCache(10.0, max_entries=3, clock=clock)
    cache.set(1, 1)
    clock.now = 5
    cache.set(2, 2)
    cache.set(3, 3)
    clock.now = 11  # 1 has expired: it goes, the others stay
    cache.set(4, 4)
    assert [cache.get(k) for k in (1, 2, 3, 4)] == [None, 2, 3, 4]
    cache.set(5, 5)  # nothing expired: the oldest (2) goes
    assert [cache.get(k) for k in (2, 3, 4, 5)] == [None, 3, 4, 5]
    assert len(cache) == 3


@given(st.lists(st.integers(0, 20), max_size=200), st.integers(1, 8))
def test_cache_never_exceeds_its_bound(keys: list[int], bound: int) -> None:
    cache: TTLCache[int, int] = TTLCache(60.0, max_entries=bound)
    for key in keys:
        cache.set(key, key)
        assert len(cache) <= bound
        assert cache.get(key) == key
