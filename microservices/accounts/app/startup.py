"""What the accounts service sets up at start-up, after its database is migrated."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio
from fastapi import FastAPI

from app.identity import IdentityService
from app.keys import key_directory, open_key_store
from app.ledger import Ledger
from app.passwords import PasswordHasher
from app.settings import Settings
from app.tokens import AccessTokenIssuer
from servicekit.auth import TokenVerifier
from servicekit.db import Database

logger = logging.getLogger("accounts.startup")


@asynccontextmanager
async def accounts_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load (or make) the signing keys, wire identity and ledger, bootstrap the first admin."""
    settings: Settings = app.state.settings
    db: Database = app.state.db
    access_ttl = timedelta(seconds=settings.access_token_ttl_seconds)
    # Reading or generating RSA keys is CPU work, and may wait for another worker's lock.
    keys = await anyio.to_thread.run_sync(
        functools.partial(
            open_key_store,
            directory=key_directory(settings.service_data_dir),
            access_token_ttl=access_ttl,
            signing_key_pem=settings.signing_key_pem.get_secret_value(),
            previous_signing_key_pem=settings.previous_signing_key_pem.get_secret_value(),
        )
    )
    hasher = PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
        concurrency=settings.password_hash_concurrency,
    )
    issuer = AccessTokenIssuer(
        keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience, ttl=access_ttl
    )
    identity = IdentityService(
        db, hasher, issuer, refresh_token_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds)
    )
    app.state.key_store = keys
    # Accounts verifies its own tokens with the keys it holds, not over HTTP.
    app.state.token_verifier = TokenVerifier(
        keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    app.state.identity = identity
    app.state.ledger = Ledger(db)
    await _bootstrap_admin(identity, settings)
    yield


async def _bootstrap_admin(identity: IdentityService, settings: Settings) -> None:
    phone = settings.admin_phone.strip()
    password = settings.admin_password.get_secret_value()
    if not phone and not password:
        return
    if not (phone and password):
        raise ValueError("set both ACCOUNTS_ADMIN_PHONE and ACCOUNTS_ADMIN_PASSWORD, or neither")
    admin = await identity.ensure_admin(phone, password)
    logger.info("admin user ready", extra={"user_id": admin.id})
