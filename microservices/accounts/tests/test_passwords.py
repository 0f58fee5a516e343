"""Passwords: argon2id, never stored in plain text, and phone numbers as people type them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import build_app
from app.passwords import PasswordHasher
from app.phone import normalise_phone
from app.settings import Settings
from tests.support import next_phone

SECRET = "my-very-own-unique-passphrase-7341"


def test_the_password_is_not_in_the_database_file_in_plain_text(
    settings_values: dict[str, Any], tmp_path: Path
) -> None:
    database = tmp_path / "plain.db"
    settings = Settings(**{**settings_values, "database_url": f"sqlite:///{database}"})
    with TestClient(build_app(settings)) as client:
        created = client.post("/users", json={"phone_number": next_phone(), "password": SECRET})
        assert created.status_code == 200
        assert SECRET not in created.text
        stored = b"".join(path.read_bytes() for path in tmp_path.glob("plain.db*"))
    assert SECRET.encode() not in stored
    assert b"$argon2id$" in stored


def _hasher(**params: int) -> PasswordHasher:
    return PasswordHasher(**{"time_cost": 1, "memory_kib": 1024, "parallelism": 1, **params})


def test_hashes_are_salted_argon2id_and_verify() -> None:
    hasher = _hasher()

    async def check() -> None:
        first, second = await hasher.hash(SECRET), await hasher.hash(SECRET)
        assert first.startswith("$argon2id$")
        assert first != second
        assert await hasher.verify(first, SECRET)
        assert not await hasher.verify(first, SECRET + "x")
        assert not await hasher.verify("not a hash", SECRET)
        # No user: the dummy hash is checked, and the answer is no whatever the password.
        assert not await hasher.verify(None, "dummy password to spend the same time on")

    asyncio.run(check())


def test_hashes_made_with_weaker_parameters_need_a_rehash() -> None:
    old = asyncio.run(_hasher(time_cost=1).hash(SECRET))
    assert _hasher(time_cost=2).needs_rehash(old)
    assert not _hasher(time_cost=1).needs_rehash(old)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("1234567890", "1234567890"),
        ("+1 (555) 010-9999", "+15550109999"),
        ("+44 20.7946.0000", "+442079460000"),
        ("555/0109", "5550109"),
    ],
)
def test_phone_numbers_are_normalised(typed: str, stored: str) -> None:
    assert normalise_phone(typed) == stored


@pytest.mark.parametrize(
    "typed", ["123456", "1234567890123456", "+", "12a4567890", "1+234567890", "+" + "1" * 40]
)
def test_things_that_are_not_phone_numbers_are_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        normalise_phone(typed)
