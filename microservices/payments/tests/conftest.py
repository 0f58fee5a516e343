"""Fixtures: the app on a fresh database (SQLite and PostgreSQL) with test-signed tokens.

Event deliveries never leave the process: they go to ``FakeSubscriber``, an in-memory
stand-in for accounts that checks signatures and answers what a test tells it to.
"""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import MIGRATIONS, build_app
from app.settings import Settings
from servicekit.db import Database
from servicekit.testing import TokenFactory
from tests.support import EVENTS_SECRET, FakeSubscriber

ACCOUNTS_EVENTS_URL = "http://accounts.test/internal/events"


def _test_settings(data_dir: Path, database_url: str) -> Settings:
    # Short intervals so that background work finishes within a test's patience.
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        payment_events_secret=EVENTS_SECRET,
        accounts_events_url=ACCOUNTS_EVENTS_URL,
        worker_poll_interval_seconds=0.05,
        relay_poll_interval_seconds=0.05,
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
        breaker_cooldown_seconds=0.2,
    )


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return _test_settings(data_dir, database_url)


@pytest.fixture
def accounts() -> FakeSubscriber:
    """The fake accounts service every event goes to."""
    return FakeSubscriber()


@pytest.fixture
def client(
    settings: Settings, tokens: TokenFactory, accounts: FakeSubscriber
) -> Iterator[TestClient]:
    """The app, once on SQLite and once on PostgreSQL: for behaviour that storage decides."""
    app = build_app(settings, token_verifier=tokens.verifier, event_transport=accounts.transport)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def sqlite_client(
    data_dir: Path, tokens: TokenFactory, accounts: FakeSubscriber
) -> Iterator[TestClient]:
    """The app on SQLite only: for HTTP-level behaviour (validation, auth, mapping of errors)
    that storage cannot change, where a PostgreSQL run would only add seconds."""
    settings = _test_settings(data_dir, f"sqlite:///{data_dir / 'payments.db'}")
    app = build_app(settings, token_verifier=tokens.verifier, event_transport=accounts.transport)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database for domain tests that run without HTTP."""
    database = Database(database_url)
    await database.migrate(MIGRATIONS)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def sqlite_db(data_dir: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database, for domain tests whose queries are covered on both engines
    elsewhere (parametrized variations of one scenario)."""
    database = Database(f"sqlite:///{data_dir / 'payments.db'}")
    await database.migrate(MIGRATIONS)
    try:
        yield database
    finally:
        await database.dispose()
