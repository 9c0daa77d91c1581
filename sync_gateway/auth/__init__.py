"""Users, passwords, tokens, devices, and who is calling.

    passwords.py     argon2id hashes
    tokens.py        JWT (HS256) access tokens
    users.py         user documents in fs_ops; roles; bootstrap admin
    devices.py       device documents in fs_ops; FCM tokens; sync activity
    authenticate.py  Authorization header → Principal, with short-lived caches
    errors.py        AuthError and its hierarchy

:func:`install` builds the services once per runtime and keeps them in ``runtime.extras``
(``"users"``, ``"devices"``, ``"authenticator"``), where the gateway and the API find them.
"""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher

from mobile_schema import FIELD_ROLES, ROLES

from ..runtime import Runtime
from .authenticate import Authenticator, Principal
from .devices import PLATFORMS, DeviceStore
from .errors import AuthenticationFailed, AuthError
from .passwords import Passwords
from .users import UserStore


def install(runtime: Runtime) -> Authenticator:
    """The runtime's Authenticator, creating it (and the user and device stores) on first use."""
    existing: Any = runtime.extras.get("authenticator")
    if isinstance(existing, Authenticator):
        return existing
    settings = runtime.settings
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
    )
    users = UserStore(runtime.couch, runtime.dbs, Passwords(hasher))
    runtime.extras["users"] = users
    runtime.extras["devices"] = DeviceStore(runtime.couch, runtime.dbs)
    authenticator = Authenticator(users, runtime.settings)
    runtime.extras["authenticator"] = authenticator
    return authenticator


async def bootstrap(runtime: Runtime) -> None:
    """Start-up hook: install the services; create the admin from settings.admin_password."""
    authenticator = install(runtime)
    password = runtime.settings.admin_password
    if password is not None and password.get_secret_value():
        await authenticator.store.ensure_bootstrap_admin(password.get_secret_value())


__all__ = [
    "FIELD_ROLES",
    "PLATFORMS",
    "ROLES",
    "AuthError",
    "AuthenticationFailed",
    "Authenticator",
    "DeviceStore",
    "Passwords",
    "Principal",
    "UserStore",
    "bootstrap",
    "install",
]
