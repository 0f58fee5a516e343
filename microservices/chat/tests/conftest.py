"""Fixtures: the app on a fresh database (SQLite and PostgreSQL) with test-signed tokens."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import build_app
from app.settings import Settings
from servicekit.testing import TokenFactory

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url)


@pytest.fixture
def client(settings: Settings, tokens: TokenFactory) -> Iterator[TestClient]:
    with TestClient(build_app(settings, token_verifier=tokens.verifier)) as test_client:
        yield test_client


@pytest.fixture
def make_client(data_dir: Path, database_url: str, tokens: TokenFactory) -> Iterator[ClientFactory]:
    """Build a client whose app has some settings changed (``make_client(send_queue_size=2)``)."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            settings = Settings(data_dir=data_dir, database_url=database_url, **overrides)
            app = build_app(settings, token_verifier=tokens.verifier)
            return stack.enter_context(TestClient(app))

        yield make
