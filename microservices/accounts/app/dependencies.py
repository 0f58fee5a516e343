"""FastAPI dependencies: the service's parts, built at start-up, and the signed-in caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.identity import IdentityService
from app.keys import KeyStore
from app.ledger import Ledger
from app.settings import Settings
from servicekit.auth import Principal, require_principal

# Declared only so that Swagger's "Authorize" button offers the password flow; the token is
# verified by servicekit's dependency (tokenUrl is relative to /docs, so the prefix works).
_password_flow = OAuth2PasswordBearer(tokenUrl="auth/token", auto_error=False)


async def get_settings(request: Request) -> Settings:
    """The accounts settings."""
    settings: Settings = request.app.state.settings
    return settings


async def get_identity(request: Request) -> IdentityService:
    """Registration and sign-in."""
    identity: IdentityService = request.app.state.identity
    return identity


async def get_ledger(request: Request) -> Ledger:
    """Balances and transfers."""
    ledger: Ledger = request.app.state.ledger
    return ledger


async def get_key_store(request: Request) -> KeyStore:
    """The signing keys."""
    keys: KeyStore = request.app.state.key_store
    return keys


async def signed_in(
    principal: Annotated[Principal, Depends(require_principal)],
    _: Annotated[str | None, Depends(_password_flow)],
) -> Principal:
    """The caller, verified; 401 with ``WWW-Authenticate: Bearer`` otherwise."""
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings)]
IdentityDep = Annotated[IdentityService, Depends(get_identity)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
KeyStoreDep = Annotated[KeyStore, Depends(get_key_store)]
SignedIn = Annotated[Principal, Depends(signed_in)]
