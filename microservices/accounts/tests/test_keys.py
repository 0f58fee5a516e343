"""Signing keys: kept across restarts, rotated without breaking live tokens, retired later."""

from __future__ import annotations

import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from app.keys import ConfiguredKeyStore, DirectoryKeyStore, generate_private_key, main, thumbprint
from app.main import build_app
from app.settings import Settings
from tests.support import User, sign_up

TTL = timedelta(minutes=15)


@pytest.fixture
def key_dir_settings(settings_values: dict[str, Any], tmp_path: Path) -> Settings:
    """SQLite settings with no configured PEM: keys are generated into the data dir."""
    return Settings(
        **{
            **settings_values,
            "signing_key_pem": "",
            "database_url": f"sqlite:///{tmp_path / 'keys.db'}",
        }
    )


def _key_dir(settings: Settings) -> Path:
    return settings.service_data_dir / "keys"


def _kid(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def _me(client: TestClient, user: User) -> int:
    status: int = client.get("/users/me", headers=user.headers).status_code
    return status


def test_the_generated_key_is_private_to_the_service_and_survives_a_restart(
    key_dir_settings: Settings,
) -> None:
    with TestClient(build_app(key_dir_settings)) as client:
        alice = sign_up(client)
        kids = [key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]]
    [key_file] = _key_dir(key_dir_settings).glob("*.pem")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(_key_dir(key_dir_settings).stat().st_mode) == 0o700
    with TestClient(build_app(key_dir_settings)) as restarted:
        assert _me(restarted, alice) == 200
        again = [key["kid"] for key in restarted.get("/.well-known/jwks.json").json()["keys"]]
    assert again == kids == [_kid(alice.access_token)]


def test_rotation_signs_new_tokens_with_the_new_key_and_keeps_old_tokens_valid(
    key_dir_settings: Settings,
) -> None:
    with TestClient(build_app(key_dir_settings)) as client:
        before = sign_up(client)
        # Rotated by another process (the CLI) while the service runs.
        new_key = DirectoryKeyStore(_key_dir(key_dir_settings), access_token_ttl=TTL).rotate()
        after = sign_up(client)
        jwks = [key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]]
        assert _kid(after.access_token) == new_key.kid != _kid(before.access_token)
        assert jwks == [new_key.kid, _kid(before.access_token)]
        assert (_me(client, before), _me(client, after)) == (200, 200)


def test_a_replaced_key_is_retired_once_its_tokens_have_expired(tmp_path: Path) -> None:
    store = DirectoryKeyStore(tmp_path / "keys", access_token_ttl=TTL)
    old = store.ensure_signing_key()
    new = store.rotate()
    assert new.created_at is not None
    still_valid = new.created_at + TTL
    gone = new.created_at + TTL + timedelta(minutes=2)
    assert [key.kid for key in store.published_keys(still_valid)] == [new.kid, old.kid]
    assert [key.kid for key in store.published_keys(gone)] == [new.kid]
    assert store.prune(gone) == [old.kid]
    assert [path.stem for path in (tmp_path / "keys").glob("*.pem")] == [new.kid]


def test_workers_starting_together_share_one_first_key(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    stores = [DirectoryKeyStore(directory, access_token_ttl=TTL) for _ in range(4)]
    kids: list[str] = []
    threads = [
        threading.Thread(target=lambda s=store: kids.append(s.ensure_signing_key().kid))
        for store in stores
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(kids) == 4
    assert len(set(kids)) == 1
    assert len(list(directory.glob("*.pem"))) == 1


def test_the_rotate_command_adds_a_key_and_lists_it(
    key_dir_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATA_DIR", str(key_dir_settings.data_dir))
    monkeypatch.delenv("ACCOUNTS_SIGNING_KEY_PEM", raising=False)
    assert main(["rotate"]) == 0
    assert main(["rotate"]) == 0
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [line for line in lines if line.endswith(("signing", "published"))]
    assert len(listed) == 2
    assert listed[0].endswith("signing")


def test_the_rotate_command_refuses_when_keys_come_from_settings(
    monkeypatch: pytest.MonkeyPatch, signing_key_pem: str
) -> None:
    monkeypatch.setenv("ACCOUNTS_SIGNING_KEY_PEM", signing_key_pem)
    assert main(["rotate"]) == 2


def _private_pem() -> tuple[str, str]:
    key = generate_private_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, thumbprint(key.public_key())


def test_configured_keys_use_their_thumbprint_as_kid_and_publish_the_previous_key() -> None:
    current, current_kid = _private_pem()
    previous = generate_private_key()
    previous_public = (
        previous.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    # Env files often carry a PEM on one line with literal \n.
    store = ConfiguredKeyStore(current.replace("\n", "\\n"), previous_public)
    assert store.signing_key().kid == current_kid
    assert [key.kid for key in store.published_keys()] == [
        current_kid,
        thumbprint(previous.public_key()),
    ]


def test_a_weak_configured_key_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point
    pem = weak.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(ValueError, match="2048"):
        ConfiguredKeyStore(pem)


def test_kids_sort_by_creation_time(tmp_path: Path) -> None:
    store = DirectoryKeyStore(tmp_path / "keys", access_token_ttl=TTL)
    first = store.ensure_signing_key()
    second = store.rotate()
    assert first.created_at is not None
    assert second.created_at is not None
    assert first.kid < second.kid
    assert first.created_at <= second.created_at <= datetime.now(UTC)
