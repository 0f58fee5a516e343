"""Payments service: wiring only."""

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from app.settings import Settings
from servicekit import create_app

MIGRATIONS = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The payments app for the given settings (from the environment when omitted)."""
    return create_app(
        settings or Settings(),
        routers=[],
        title="Payments service",
        description="Payments with Idempotency-Key semantics, processing and signed events.",
        migrations=MIGRATIONS,
        **overrides,
    )


app = build_app()
