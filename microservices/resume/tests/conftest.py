"""Fixtures: the app on a fresh database (SQLite and PostgreSQL) with test-signed tokens."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import build_app
from app.settings import Settings
from servicekit.testing import TokenFactory
from tests.support import Resumes


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url)


@pytest.fixture
def client(settings: Settings, tokens: TokenFactory) -> Iterator[TestClient]:
    with TestClient(build_app(settings, token_verifier=tokens.verifier)) as test_client:
        yield test_client


@pytest.fixture
def resumes(client: TestClient, tokens: TokenFactory) -> Resumes:
    """Creates resumes through the API, each with its owner's token."""
    return Resumes(client, tokens)
