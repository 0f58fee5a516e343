"""Settings that would make the service misbehave are refused up front."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.main import build_app
from app.settings import Settings, Subscriber


def test_service_refuses_to_start_without_the_events_secret(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, payment_events_secret="")
    with (
        pytest.raises(RuntimeError, match="PAYMENT_EVENTS_SECRET"),
        TestClient(build_app(settings)),
    ):
        pass


def test_accounts_subscriber_is_built_from_the_platform_settings() -> None:
    settings = Settings(payment_events_secret="s3cret", accounts_events_url="http://127.0.0.1:1/e")
    [accounts] = settings.subscribers
    assert accounts.name == "accounts"
    assert accounts.url == "http://127.0.0.1:1/e"
    assert accounts.secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_accounts_is_sent_only_the_event_it_credits() -> None:
    [accounts] = Settings(payment_events_secret="s").subscribers
    assert accounts.wants("payment.succeeded")
    assert not accounts.wants("payment.accepted")
    assert not accounts.wants("payment.failed")


def test_more_subscribers_can_be_added_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "PAYMENTS_EVENT_SUBSCRIBERS",
        '[{"name": "ledger", "url": "http://127.0.0.1:1/e", "secret": "x",'
        ' "event_types": ["payment.succeeded"]}]',
    )
    names = [subscriber.name for subscriber in Settings(payment_events_secret="s").subscribers]
    assert names == ["accounts", "ledger"]


def test_subscriber_names_must_be_unique() -> None:
    with pytest.raises(ValidationError, match="unique"):
        Settings(
            payment_events_secret="s",
            event_subscribers=[Subscriber(name="accounts", url="http://127.0.0.1:1/", secret="x")],
        )


def test_ledger_currency_must_be_a_known_currency() -> None:
    with pytest.raises(ValidationError):
        Settings(ledger_currency="XYZ")
