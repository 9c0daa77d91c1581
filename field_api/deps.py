"""FastAPI dependencies shared by the API routes: the runtime, the caller, role checks.

runtime(request)            the service's Runtime (``app.state.runtime``)
current_principal           the authenticated caller, or 401 problem+json with the reason
require_roles(*roles)       the caller when their role is one of ``roles``, else 403
user_store / device_store   the auth package's stores, installed in ``runtime.extras``
auth_errors()               turns the auth package's errors into problem+json errors
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request

from sync_gateway import auth
from sync_gateway.auth import errors as auth_errs
from sync_gateway.auth.authenticate import Authenticator, Principal
from sync_gateway.auth.devices import DeviceStore
from sync_gateway.auth.throttle import SignInThrottled
from sync_gateway.auth.users import UserStore
from sync_gateway.runtime import Runtime

from .problems import (
    BadInput,
    Conflicting,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    TooManyRequests,
)


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def authenticator(rt: RuntimeDep) -> Authenticator:
    return auth.install(rt)


def user_store(rt: RuntimeDep) -> UserStore:
    auth.install(rt)
    store = rt.extras["users"]
    assert isinstance(store, UserStore)
    return store


def device_store(rt: RuntimeDep) -> DeviceStore:
    auth.install(rt)
    store = rt.extras["devices"]
    assert isinstance(store, DeviceStore)
    return store


AuthenticatorDep = Annotated[Authenticator, Depends(authenticator)]
UserStoreDep = Annotated[UserStore, Depends(user_store)]
DeviceStoreDep = Annotated[DeviceStore, Depends(device_store)]


async def current_principal(request: Request, authn: AuthenticatorDep) -> Principal:
    """The caller, from ``Authorization: Bearer <token>`` or Basic; 401 with the reason
    (429 after too many failed Basic sign-ins)."""
    with auth_errors():
        return await authn.authenticate(
            request.headers.get("authorization"), client=client_address(request)
        )


def client_address(request: Request) -> str | None:
    """The caller's address as the ASGI server saw it (behind a proxy: FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else None


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through only callers with one of ``roles``."""
    allowed = frozenset(roles)

    async def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise NotAllowed(
                f"this needs the role {' or '.join(sorted(allowed))}; you are {principal.role}"
            )
        return principal

    return check


@contextmanager
def auth_errors() -> Iterator[None]:
    """Render the auth package's errors as the API's problem+json errors."""
    try:
        yield
    except SignInThrottled as exc:
        raise TooManyRequests(exc.reason, exc.retry_after_s) from exc
    except auth_errs.AuthenticationFailed as exc:
        raise NotAuthenticated(exc.reason) from exc
    except auth_errs.UserExists as exc:
        raise Conflicting(exc.reason) from exc
    except auth_errs.UserNotFound as exc:
        raise NotFound(exc.reason) from exc
    except auth_errs.InvalidInput as exc:
        raise BadInput(exc.reason) from exc
    except auth_errs.AuthError as exc:
        raise NotAuthenticated(exc.reason) from exc
