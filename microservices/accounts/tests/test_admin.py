"""The first admin, from ACCOUNTS_ADMIN_PHONE and ACCOUNTS_ADMIN_PASSWORD at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.identity import IdentityService
from app.keys import ConfiguredKeyStore
from app.main import MIGRATIONS, build_app
from app.passwords import PasswordHasher
from app.settings import Settings
from app.tokens import AccessTokenIssuer
from servicekit.db import Database
from tests.support import ADMIN_PASSWORD, ADMIN_PHONE, PASSWORD, next_phone, sign_in


def test_the_configured_admin_can_sign_in_as_admin(client: TestClient) -> None:
    admin = sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD)
    me = client.get("/users/me", headers=admin.headers).json()
    assert me["is_admin"] is True
    assert me["phone_number"] == ADMIN_PHONE


def test_restarts_keep_the_one_admin_and_their_password(settings: Settings) -> None:
    with TestClient(build_app(settings)) as client:
        first = sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD)
    with TestClient(build_app(settings)) as client:
        second = sign_in(client, ADMIN_PHONE, ADMIN_PASSWORD)
    assert first.user_id == second.user_id


def test_an_existing_user_with_the_admin_phone_is_promoted_and_keeps_their_password(
    make_settings: Callable[..., Settings],
) -> None:
    phone = next_phone()
    with TestClient(build_app(make_settings(admin_phone="", admin_password=""))) as client:
        assert client.post("/users", json={"phone_number": phone, "password": PASSWORD}).is_success
        assert sign_in(client, phone).access_token
    promoted = make_settings(admin_phone=phone, admin_password="a different password")
    with TestClient(build_app(promoted)) as client:
        user = sign_in(client, phone, PASSWORD)
        assert client.get("/users/me", headers=user.headers).json()["is_admin"] is True
        wrong = {"phone_number": phone, "password": "a different password"}
        assert client.post("/auth/token", json=wrong).status_code == 401


def test_half_of_the_admin_settings_is_a_start_up_error(
    settings_values: dict[str, Any], tmp_path: Path
) -> None:
    settings = Settings(
        **{
            **settings_values,
            "database_url": f"sqlite:///{tmp_path / 'a.db'}",
            "admin_password": "",
        }
    )
    with (
        pytest.raises(ValueError, match="ACCOUNTS_ADMIN_PASSWORD"),
        TestClient(build_app(settings)),
    ):
        pass


def test_workers_bootstrapping_the_admin_at_once_make_one_admin(
    database_url: str, signing_key_pem: str
) -> None:
    async def bootstrap_concurrently() -> set[str]:
        db = Database(database_url)
        await db.migrate(MIGRATIONS)
        hasher = PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
        issuer = AccessTokenIssuer(
            ConfiguredKeyStore(signing_key_pem), issuer="i", audience="a", ttl=timedelta(minutes=1)
        )
        identity = IdentityService(db, hasher, issuer, refresh_token_ttl=timedelta(days=1))
        try:
            admins = await asyncio.gather(
                *(identity.ensure_admin(ADMIN_PHONE, ADMIN_PASSWORD) for _ in range(4))
            )
            return {admin.id for admin in admins if admin.is_admin}
        finally:
            await db.dispose()

    assert len(asyncio.run(bootstrap_concurrently())) == 1
