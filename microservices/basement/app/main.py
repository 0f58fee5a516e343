"""Basement service: wiring only."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI

from app.blobs import LocalBlobStore
from app.files import FileLibrary, ThumbnailPolicy
from app.routes import categories, files
from app.settings import Settings
from app.uploads import clear_spool
from servicekit import create_app

MIGRATIONS = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The basement app for the given settings (from the environment when omitted)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage_dir = settings.effective_storage_dir
        blobs = LocalBlobStore(storage_dir)
        # Bucket names cannot start with a dot, so the spool never collides with a bucket;
        # being on the same file system, a finished upload moves into place by renaming.
        spool_dir = storage_dir / ".incoming"
        await clear_spool(spool_dir)
        app.state.files = FileLibrary(
            app.state.db,
            blobs,
            spool_dir=spool_dir,
            default_bucket=settings.default_bucket,
            thumbnails=ThumbnailPolicy(
                box=settings.thumbnail_size,
                max_pixels=settings.max_image_pixels,
                limiter=anyio.CapacityLimiter(settings.thumbnail_concurrency),
            ),
        )
        app.state.readiness_checks["file_storage"] = blobs.check
        yield

    app = create_app(
        settings,
        routers=[files.router, categories.router],
        title="Basement service",
        description="File storage with thumbnails, and the category tree.",
        migrations=MIGRATIONS,
        lifespan=lifespan,
        **overrides,
    )
    return app


app = build_app()
