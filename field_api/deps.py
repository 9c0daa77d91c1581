"""FastAPI dependencies shared by the API routes: the services, the caller, role checks.

services(request)           the process's typed Services (``app.state.services``, container.py)
runtime                     its Runtime: CouchDB client and database names
authenticator, user_store, device_store   the gateway's auth services
conflict_store              the conflict record store
views_ready                 the design documents this process installed already
current_principal           the authenticated caller, or 401 problem+json with the reason
require_roles(*roles)       the caller when their role is one of ``roles``, else 403
auth_errors()               turns the auth package's errors into problem+json errors
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request

from sync_gateway.auth import errors as auth_errs
from sync_gateway.auth.authenticate import Authenticator, Principal
from sync_gateway.auth.devices import DeviceStore
from sync_gateway.auth.throttle import SignInThrottled
from sync_gateway.auth.users import UserStore
from sync_gateway.conflict_store import CouchConflictStore
from sync_gateway.runtime import Runtime

from .container import Services
from .problems import (
    BadInput,
    Conflicting,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    TooManyRequests,
)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]


def runtime(s: ServicesDep) -> Runtime:
    return s.runtime


def authenticator(s: ServicesDep) -> Authenticator:
    return s.gateway.auth.authenticator


def user_store(s: ServicesDep) -> UserStore:
    return s.gateway.auth.users


def device_store(s: ServicesDep) -> DeviceStore:
    return s.gateway.auth.devices


def conflict_store(s: ServicesDep) -> CouchConflictStore:
    return s.conflicts


def views_ready(s: ServicesDep) -> set[str]:
    return s.views_ready


RuntimeDep = Annotated[Runtime, Depends(runtime)]
AuthenticatorDep = Annotated[Authenticator, Depends(authenticator)]
UserStoreDep = Annotated[UserStore, Depends(user_store)]
DeviceStoreDep = Annotated[DeviceStore, Depends(device_store)]
ConflictStoreDep = Annotated[CouchConflictStore, Depends(conflict_store)]
ViewsReadyDep = Annotated[set[str], Depends(views_ready)]


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
