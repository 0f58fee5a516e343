"""Chat service: wiring only."""

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from app.settings import Settings
from servicekit import create_app

MIGRATIONS = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The chat app for the given settings (from the environment when omitted)."""
    return create_app(
        settings or Settings(),
        routers=[],
        title="Chat service",
        description="WebSocket chat rooms with history and fan-out across replicas.",
        migrations=MIGRATIONS,
        **overrides,
    )


app = build_app()
