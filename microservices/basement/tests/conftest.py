"""Fixtures: the app on a fresh database (SQLite and PostgreSQL) with test-signed tokens."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import build_app
from app.settings import Settings
from servicekit.testing import TokenFactory

# Small, so that the limit tests do not have to move megabytes.
TEST_UPLOAD_LIMIT = 256 * 1024


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        max_upload_bytes=TEST_UPLOAD_LIMIT,
        max_image_pixels=30_000_000,
    )


@pytest.fixture
def client(settings: Settings, tokens: TokenFactory) -> Iterator[TestClient]:
    with TestClient(build_app(settings, token_verifier=tokens.verifier)) as test_client:
        yield test_client


@pytest.fixture
def user_headers(tokens: TokenFactory) -> dict[str, str]:
    return tokens.headers("user-1")


@pytest.fixture
def admin_headers(tokens: TokenFactory) -> dict[str, str]:
    return tokens.headers("admin-1", is_admin=True)
