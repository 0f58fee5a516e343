"""Payments service: wiring only."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from app.background import run_background_work
from app.routes import direct_routes, router
from app.settings import Settings
from servicekit import create_app

MIGRATIONS = Path(__file__).parent / "migrations"


def build_app(
    settings: Settings | None = None,
    *,
    event_transport: httpx.AsyncBaseTransport | None = None,
    **overrides: Any,
) -> FastAPI:
    """The payments app for the given settings (from the environment when omitted).

    ``event_transport`` replaces the network for event deliveries (tests).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.require_events_secret()
        app.state.background = None
        if not settings.run_background_tasks:
            yield
            return
        async with run_background_work(
            app.state.db, settings, transport=event_transport
        ) as background:
            app.state.background = background
            yield

    return create_app(
        settings,
        routers=[router],
        title="Payments service",
        description="Payments with Idempotency-Key semantics, processing and signed events.",
        migrations=MIGRATIONS,
        lifespan=lifespan,
        direct_routes=direct_routes,
        **overrides,
    )


app = build_app()
