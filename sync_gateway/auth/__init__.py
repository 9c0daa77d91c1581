"""Users, passwords, tokens, devices, and who is calling.

    passwords.py     argon2id hashes
    tokens.py        JWT (HS256) access tokens
    users.py         user documents in fs_ops; roles; bootstrap admin
    devices.py       device documents in fs_ops; FCM tokens; sync activity
    authenticate.py  Authorization header → Principal, with short-lived caches
    errors.py        AuthError and its hierarchy

:func:`build` makes the services (:class:`AuthServices`) once; the composition root keeps them
in the gateway (``sync_gateway.gateway.Gateway.auth``), where ``/sync`` and the API find them.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher

from mobile_schema import FIELD_ROLES, ROLES

from ..config import GatewayConfig
from ..couch import CouchClient
from ..databases import Databases
from .authenticate import Authenticator, Principal
from .devices import PLATFORMS, DeviceStore
from .errors import AuthenticationFailed, AuthError
from .passwords import Passwords
from .users import UserStore


@dataclass(frozen=True)
class AuthServices:
    """The user and device stores and the authenticator of one process."""

    users: UserStore
    devices: DeviceStore
    authenticator: Authenticator


def build(couch: CouchClient, dbs: Databases, config: GatewayConfig) -> AuthServices:
    """The stores and the authenticator, with the config's password hashing cost and tokens."""
    hasher = PasswordHasher(time_cost=config.argon2_time_cost, memory_cost=config.argon2_memory_kib)
    users = UserStore(couch, dbs, Passwords(hasher))
    return AuthServices(users, DeviceStore(couch, dbs), Authenticator(users, config))


async def bootstrap(services: AuthServices, admin_password: str | None) -> None:
    """Start-up: create the user ``admin`` with ``admin_password`` when no admin exists."""
    if admin_password:
        await services.users.ensure_bootstrap_admin(admin_password)


__all__ = [
    "FIELD_ROLES",
    "PLATFORMS",
    "ROLES",
    "AuthError",
    "AuthServices",
    "AuthenticationFailed",
    "Authenticator",
    "DeviceStore",
    "Passwords",
    "Principal",
    "UserStore",
    "bootstrap",
    "build",
]
