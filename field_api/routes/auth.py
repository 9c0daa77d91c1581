"""``POST /api/v1/auth/token``: the OAuth2 password flow that gives apps their Bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from sync_gateway.auth import tokens

from ..deps import AuthenticatorDep, auth_errors, client_address

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    expires_in: int


@router.post(
    "/token",
    responses={429: {"description": "too many failed sign-ins; wait `Retry-After` seconds"}},
)
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    authn: AuthenticatorDep,
    request: Request,
    response: Response,
) -> TokenOut:
    """Exchange a user id and password for a Bearer token (for the API and for /sync)."""
    # RFC 6749 5.1: an answer carrying a token must not be stored by any cache
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    with auth_errors():
        user = await authn.check_password(
            form.username, form.password, client=client_address(request)
        )
    settings = authn.settings
    return TokenOut(
        access_token=tokens.issue(user, settings),
        role=user["role"],
        expires_in=settings.token_ttl_s,
    )
