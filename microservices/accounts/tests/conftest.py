"""Fixtures: the real accounts app on a fresh database (SQLite and PostgreSQL).

Tests sign in through ``/auth/token`` and use the tokens the service itself issues. Argon2
runs with cheap parameters here (the production cost is a setting), and one RSA key is
generated per session and handed in as ``ACCOUNTS_SIGNING_KEY_PEM``, except where a test is
about the key directory itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from app.keys import generate_private_key
from app.main import build_app
from app.settings import Settings
from tests.support import ADMIN_PASSWORD, ADMIN_PHONE, EVENTS_SECRET, User, sign_in, sign_up

FAST_HASHING: dict[str, Any] = {
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 1024,
    "password_hash_parallelism": 1,
}


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    """One RSA signing key for the session (generating one per test is slow)."""
    return (
        generate_private_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )


@pytest.fixture
def settings_values(data_dir: Path, signing_key_pem: str) -> dict[str, Any]:
    """Test settings, but for the database."""
    return {
        "data_dir": data_dir,
        "signing_key_pem": signing_key_pem,
        "admin_phone": ADMIN_PHONE,
        "admin_password": ADMIN_PASSWORD,
        "payment_events_secret": EVENTS_SECRET,
        "ledger_currency": "USD",
        **FAST_HASHING,
    }


@pytest.fixture
def make_settings(settings_values: dict[str, Any], database_url: str) -> Callable[..., Settings]:
    """Settings for this test's database (SQLite, then PostgreSQL), with ``overrides`` on top."""
    return lambda **overrides: Settings(
        **{**settings_values, "database_url": database_url, **overrides}
    )


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app on this test's database (each test runs on SQLite and on PostgreSQL)."""
    with TestClient(build_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def sqlite_settings(settings_values: dict[str, Any], tmp_path: Path) -> Settings:
    """Settings on a SQLite file only, for behaviour that does not depend on the engine."""
    return Settings(**{**settings_values, "database_url": f"sqlite:///{tmp_path / 'accounts.db'}"})


@pytest.fixture
def sqlite_client(sqlite_settings: Settings) -> Iterator[TestClient]:
    """The app on SQLite only. A module whose tests do not depend on the database engine
    overrides ``settings`` and ``client`` with ``sqlite_settings`` and this one."""
    with TestClient(build_app(sqlite_settings)) as test_client:
        yield test_client


@pytest.fixture
def new_user(client: TestClient) -> Callable[[], User]:
    """Registers and signs in a new user each time it is called."""
    return lambda: sign_up(client)


@pytest.fixture
def alice(new_user: Callable[[], User]) -> User:
    return new_user()


@pytest.fixture
def bob(new_user: Callable[[], User]) -> User:
    return new_user()


@pytest.fixture
def admin(client: TestClient) -> User:
    """The admin created at start-up from ACCOUNTS_ADMIN_PHONE / ACCOUNTS_ADMIN_PASSWORD."""
    return sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD)
