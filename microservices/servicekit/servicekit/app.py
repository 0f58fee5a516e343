"""The app factory: every service is built by ``create_app`` from its settings and routers."""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    asynccontextmanager,
    contextmanager,
    nullcontext,
)
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.auth import JWKSKeySource, TokenVerifier
from servicekit.db import Database
from servicekit.direct_routes import DirectRoutes
from servicekit.errors import install_error_handlers
from servicekit.health import ReadinessCheck, health_router
from servicekit.logging import configure_logging
from servicekit.observability import ObservabilityMiddleware
from servicekit.settings import ServiceSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class ServiceApp(FastAPI):
    """FastAPI with the platform's front door in front of its middleware stack.

    Outermost, ``ObservabilityMiddleware`` (request id, log line, metrics) sees every
    request, the 500 answers of the error middleware included; then ``DirectRoutes`` serves
    the hot endpoints; everything else goes on through FastAPI's own stack (error
    middleware, user middleware, exception handlers, routers) as in any FastAPI app.
    """

    def __init__(
        self, *, service_name: str, direct_routes: Sequence[Route] = (), **kwargs: Any
    ) -> None:
        # Metrics are Prometheus (ObservabilityMiddleware); FastAPI's own OpenTelemetry hooks
        # would otherwise look up the global providers on every request.
        super().__init__(telemetry={"tracing": False, "metrics": False, "logs": False}, **kwargs)
        self.service_name = service_name
        self.direct_routes = tuple(direct_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.middleware_stack is not None and not self.root_path:
            # What FastAPI's and Starlette's __call__ would do, without their two frames:
            # FastAPI's adds only OpenTelemetry, which is off here.
            scope["app"] = self
            await self.middleware_stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        """FastAPI's stack behind the direct routes and the observability middleware."""
        app = super().build_middleware_stack()
        if self.direct_routes:
            app = DirectRoutes(app, self.direct_routes, self.exception_handlers)
        return ObservabilityMiddleware(app, service=self.service_name)


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
    direct_routes: Sequence[Route] = (),
) -> FastAPI:
    """Build a service: health, readiness, metrics, logging, errors, database and auth wired in.

    ``migrations`` is the service's Alembic directory; when given, the service gets a
    ``Database`` on ``app.state.db``, migrated to head at start-up. ``lifespan`` runs the
    service's own start-up and shut-down inside the shared one (after the database is up).

    ``direct_routes`` are plain Starlette routes served in front of FastAPI's middleware stack
    and routers (``DirectRoutes``): for a hot endpoint that takes the bare ``Request`` and
    returns a ``Response``, this skips FastAPI's layers, route scan and parameter solving,
    more than half of a small GET's cost. Declare the same endpoint on a router too, so that
    OpenAPI documents it.
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
            async with lifespan(app) if lifespan is not None else nullcontext():
                with startup_heap_frozen():
                    yield
        finally:
            if migrations is not None:
                await app.state.db.dispose()

    app = ServiceApp(
        service_name=settings.service_name,
        direct_routes=direct_routes,
        title=title,
        description=description,
        version=version,
        lifespan=shared_lifespan,
    )
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
    return app


@contextmanager
def startup_heap_frozen() -> Iterator[None]:
    """Exempt what start-up built (modules, routes, schemas, table metadata) from collection.

    A full collection otherwise walks that whole heap and stalls the event loop for ~50 ms
    every few thousand requests, which is most of a busy service's p99. Unfrozen at shutdown,
    so an app that stops (as in tests) can still be collected.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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
