"""Deliveries the events endpoint refuses or ignores: nothing is ever credited by them.

Signature and body checks come before any storage, so these run on SQLite only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import build_app
from app.settings import Settings
from servicekit.signing import sign_payload
from tests.support import User, balance, deliver, payment_event


@pytest.fixture
def settings(sqlite_settings: Settings) -> Settings:
    return sqlite_settings


@pytest.fixture
def client(sqlite_client: TestClient) -> TestClient:
    return sqlite_client


@pytest.mark.parametrize("event_type", ["payment.accepted", "payment.failed", "invoice.paid"])
def test_other_event_types_are_ignored(client: TestClient, alice: User, event_type: str) -> None:
    response = deliver(client, payment_event(alice.user_id, "5.00", event_type=event_type))
    assert response.json() == {"status": "ignored"}
    assert balance(client, alice) == "0.00"


def _post(client: TestClient, body: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Webhook-Signature"] = signature
    return client.post("/internal/events", content=body, headers=headers)


@pytest.mark.parametrize(
    "make_signature",
    [
        lambda body: None,
        lambda body: "",
        lambda body: "t=1,v1=deadbeef",
        lambda body: sign_payload("the wrong secret", body),
        lambda body: sign_payload("test-events-secret", body, timestamp=int(time.time()) - 3600),
        lambda body: sign_payload("test-events-secret", body + b" "),
    ],
    ids=["missing", "empty", "garbage", "wrong-secret", "stale", "other-body"],
)
def test_badly_signed_events_are_401_and_credit_nothing(
    client: TestClient, alice: User, make_signature: Callable[[bytes], str | None]
) -> None:
    body = json.dumps(payment_event(alice.user_id, "100.00")).encode()
    response = _post(client, body, make_signature(body))
    assert response.status_code == 401
    assert balance(client, alice) == "0.00"


def test_without_a_configured_secret_every_event_is_refused(
    settings_values: dict[str, Any], tmp_path: Path
) -> None:
    settings = Settings(
        **{
            **settings_values,
            "database_url": f"sqlite:///{tmp_path / 'no-secret.db'}",
            "payment_events_secret": "",
        }
    )
    with TestClient(build_app(settings)) as client:
        body = json.dumps(payment_event("anyone", "1.00")).encode()
        assert _post(client, body, sign_payload("", body)).status_code == 401
        assert _post(client, body, None).status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "EUR"}, "currency"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"user_id": None}, "user_id"),
    ],
)
def test_malformed_payments_are_422_and_credit_nothing(
    client: TestClient, alice: User, change: dict[str, Any], field: str
) -> None:
    event = payment_event(alice.user_id, "1.00")
    event["data"].update(change)
    response = deliver(client, event)
    assert response.status_code == 422
    assert balance(client, alice) == "0.00"


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"type": "payment.succeeded"}'])
def test_a_body_that_is_not_an_event_is_422(client: TestClient, body: bytes) -> None:
    response = _post(client, body, sign_payload("test-events-secret", body))
    assert response.status_code == 422
