"""The app factory: every service is built by ``create_app`` from its settings and routers."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request

from servicekit.auth import JWKSKeySource, TokenVerifier
from servicekit.db import Database
from servicekit.errors import install_error_handlers
from servicekit.health import ReadinessCheck, health_router
from servicekit.logging import configure_logging
from servicekit.observability import ObservabilityMiddleware
from servicekit.settings import ServiceSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    settings: ServiceSettings,
    *,
    routers: Sequence[APIRouter],
    title: str,
    description: str = "",
    version: str = "1.0.0",
    migrations: Path | None = None,
    token_verifier: TokenVerifier | None = None,
    lifespan: Lifespan | None = None,
) -> FastAPI:
    """Build a service: health, readiness, metrics, logging, errors, database and auth wired in.

    ``migrations`` is the service's Alembic directory; when given, the service gets a
    ``Database`` on ``app.state.db``, migrated to head at start-up. ``lifespan`` runs the
    service's own start-up and shut-down inside the shared one (after the database is up).
    """
    configure_logging(settings.service_name, settings.log_level)

    @asynccontextmanager
    async def shared_lifespan(app: FastAPI) -> AsyncIterator[None]:
        data_dir = settings.service_data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        app.state.readiness_checks["data_dir"] = _data_dir_writable(data_dir)
        if migrations is not None:
            db = Database(settings.effective_database_url)
            await db.migrate(migrations)
            app.state.db = db
            app.state.readiness_checks["database"] = db.ping
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            if migrations is not None:
                await app.state.db.dispose()

    app = FastAPI(title=title, description=description, version=version, lifespan=shared_lifespan)
    app.state.settings = settings
    app.state.readiness_checks = {}
    app.state.token_verifier = token_verifier or TokenVerifier(
        JWKSKeySource(settings.jwks_url, cache_seconds=settings.jwks_cache_seconds),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    install_error_handlers(app)
    app.include_router(health_router)
    for router in routers:
        app.include_router(router)
    app.add_middleware(ObservabilityMiddleware, service=settings.service_name)
    return app


def _data_dir_writable(path: Path) -> ReadinessCheck:
    async def check() -> None:
        fd, name = tempfile.mkstemp(dir=path, prefix=".ready-")
        os.close(fd)
        os.unlink(name)

    return check


async def get_database(request: Request) -> Database:
    """The service's database (a FastAPI dependency; async, so it runs on the event loop)."""
    db: Database = request.app.state.db
    return db


DatabaseDep = Annotated[Database, Depends(get_database)]
