"""Resume service: wiring only."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from app.routes import direct_routes, router
from app.settings import Settings
from app.storage import ResumeReader
from servicekit import create_app

MIGRATIONS = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The resume app for the given settings (from the environment when omitted)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.resume_reader = ResumeReader(app.state.db)
        try:
            yield
        finally:
            app.state.resume_reader.close()

    app = create_app(
        settings or Settings(),
        routers=[router],
        direct_routes=direct_routes,
        title="Resume service",
        description="Resumes: create, read, update, search.",
        migrations=MIGRATIONS,
        lifespan=lifespan,
        **overrides,
    )
    return app


app = build_app()
