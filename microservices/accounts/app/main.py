"""Accounts service: wiring only."""

from pathlib import Path

from fastapi import FastAPI

from app.routes import auth, internal, ledger, users
from app.settings import Settings
from app.startup import accounts_lifespan
from servicekit import create_app

MIGRATIONS = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None) -> FastAPI:
    """The accounts app for the given settings (from the environment when omitted)."""
    app = create_app(
        settings or Settings(),
        routers=[users.router, auth.router, ledger.router, internal.router],
        title="Accounts service",
        description="Users, tokens (RS256 + JWKS) and the account ledger.",
        migrations=MIGRATIONS,
        lifespan=accounts_lifespan,
        direct_routes=ledger.direct_routes,
    )
    return app


app = build_app()
