"""The payments API: creating, reading and listing payments, and their lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import build_app
from servicekit.testing import TokenFactory, declared_routes_only
from tests.conftest import _test_settings
from tests.support import FakeSubscriber, wait_for


def _create(
    client: TestClient,
    tokens: TokenFactory,
    user_id: str,
    body: dict[str, Any] | None = None,
    key: str | None = None,
) -> Any:
    return client.post(
        "/payments",
        json=body if body is not None else {"amount": "10.00"},
        headers={**tokens.headers(user_id), "Idempotency-Key": key or str(uuid.uuid4())},
    )


def _final(client: TestClient, tokens: TokenFactory, user_id: str, payment_id: str) -> Any:
    def final_payment() -> Any:
        payment = client.get(f"/payments/{payment_id}", headers=tokens.headers(user_id)).json()
        return payment if payment["status"] in ("succeeded", "failed") else None

    return wait_for(final_payment, what=f"payment {payment_id} to finish")


def test_seed_example_with_a_token_is_accepted(
    sqlite_client: TestClient, tokens: TokenFactory
) -> None:
    # The seed's curl example: amount as a JSON number, 202 Accepted.
    response = sqlite_client.post(
        "/payments",
        content=b'{"amount": 100.00, "currency": "USD", "description": "Test payment"}',
        headers={
            **tokens.headers("user-1"),
            "Content-Type": "application/json",
            "Idempotency-Key": "unique-key-123",
        },
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted"
    assert body["amount"] == "100.00"
    assert body["currency"] == "USD"
    assert body["description"] == "Test payment"
    assert body["payment_method"] == "pm_card_visa"
    assert body["user_id"] == "user-1"
    uuid.UUID(body["payment_id"])
    assert body["created_at"].endswith("+00:00")
    assert response.headers["Location"] == f"/payments/{body['payment_id']}"
    assert "Idempotent-Replayed" not in response.headers


def test_creating_a_payment_needs_a_token(sqlite_client: TestClient) -> None:
    response = sqlite_client.post("/payments", json={"amount": 1}, headers={"Idempotency-Key": "k"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_gateway_prefix_shows_in_location(sqlite_client: TestClient, tokens: TokenFactory) -> None:
    response = sqlite_client.post(
        "/payments",
        json={"amount": "5.00"},
        headers={
            **tokens.headers("user-1"),
            "Idempotency-Key": "k-prefix",
            "X-Forwarded-Prefix": "/payments",
        },
    )
    assert response.status_code == 202
    assert response.headers["Location"] == f"/payments/payments/{response.json()['payment_id']}"


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(100, "100.00"), ("0.10", "0.10"), ("12.5", "12.50"), (0.1, "0.10")],
)
def test_amounts_are_exact(
    sqlite_client: TestClient, tokens: TokenFactory, amount: Any, expected: str
) -> None:
    response = _create(sqlite_client, tokens, "user-1", {"amount": amount})
    assert response.status_code == 202
    assert response.json()["amount"] == expected


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        '{"amount": 0}',
        '{"amount": -5}',
        '{"amount": "1.001"}',
        '{"amount": 1.001}',
        '{"amount": "NaN"}',
        '{"amount": NaN}',
        '{"amount": 1e3}',
        '{"amount": "1000000000"}',
        '{"amount": true}',
        '{"amount": "10.00", "currency": "XYZ"}',
        '{"amount": "10.00", "payment_method": "pm_card_unknown"}',
        '{"amount": "10.00", "description": "' + "x" * 1001 + '"}',
        '{"amount": 10',
    ],
)
def test_invalid_payments_are_refused_and_not_stored(
    sqlite_client: TestClient, tokens: TokenFactory, body: str
) -> None:
    response = sqlite_client.post(
        "/payments",
        content=body.encode(),
        headers={
            **tokens.headers("user-bad"),
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 422, response.text
    assert "detail" in response.json()
    listed = sqlite_client.get("/payments", headers=tokens.headers("user-bad")).json()
    assert listed["data"] == []


def test_payment_in_another_currency_than_the_ledger_is_refused(
    sqlite_client: TestClient, tokens: TokenFactory
) -> None:
    response = _create(sqlite_client, tokens, "user-1", {"amount": "10.00", "currency": "EUR"})
    assert response.status_code == 422
    assert "ledger currency is USD" in response.json()["detail"]


def test_visa_payment_succeeds_with_timestamps(
    client: TestClient, tokens: TokenFactory, accounts: FakeSubscriber
) -> None:
    created = _create(client, tokens, "user-1", {"amount": "100.00"}).json()
    payment = _final(client, tokens, "user-1", created["payment_id"])
    assert payment["status"] == "succeeded"
    assert payment["failure_code"] is None
    assert payment["created_at"] <= payment["processing_started_at"] <= payment["completed_at"]
    [event] = wait_for(lambda: accounts.events("payment.succeeded"), what="succeeded event")
    assert event["data"]["payment_id"] == created["payment_id"]
    assert event["data"]["user_id"] == "user-1"
    assert event["data"]["amount"] == "100.00"
    assert event["data"]["currency"] == "USD"
    assert event["data"]["status"] == "succeeded"


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("pm_card_chargeDeclined", "card_declined"),
        ("pm_card_insufficientFunds", "insufficient_funds"),
    ],
)
def test_declining_test_cards_fail_with_their_code(
    sqlite_client: TestClient,
    tokens: TokenFactory,
    accounts: FakeSubscriber,
    method: str,
    code: str,
) -> None:
    created = _create(sqlite_client, tokens, "user-1", {"amount": "5.00", "payment_method": method})
    payment = _final(sqlite_client, tokens, "user-1", created.json()["payment_id"])
    assert payment["status"] == "failed"
    assert payment["failure_code"] == code
    assert payment["failure_message"]
    # Accounts only credits succeeded payments, so it is not sent this one's events.
    assert accounts.events() == []


def test_someone_elses_payment_is_not_found(client: TestClient, tokens: TokenFactory) -> None:
    payment_id = _create(client, tokens, "owner").json()["payment_id"]
    response = client.get(f"/payments/{payment_id}", headers=tokens.headers("stranger"))
    assert response.status_code == 404
    assert client.get(f"/payments/{payment_id}", headers=tokens.headers("owner")).status_code == 200


def test_admin_may_read_any_payment(sqlite_client: TestClient, tokens: TokenFactory) -> None:
    payment_id = _create(sqlite_client, tokens, "owner").json()["payment_id"]
    response = sqlite_client.get(
        f"/payments/{payment_id}", headers=tokens.headers("boss", is_admin=True)
    )
    assert response.status_code == 200
    assert response.json()["user_id"] == "owner"


def test_unknown_payment_is_not_found(sqlite_client: TestClient, tokens: TokenFactory) -> None:
    response = sqlite_client.get(f"/payments/{uuid.uuid4()}", headers=tokens.headers("user-1"))
    assert response.status_code == 404


def test_list_shows_only_my_payments_newest_first_in_pages(
    client: TestClient, tokens: TokenFactory
) -> None:
    mine = [_create(client, tokens, "me").json()["payment_id"] for _ in range(5)]
    _create(client, tokens, "someone-else")
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/payments", params=params, headers=tokens.headers("me")).json()
        seen += [payment["payment_id"] for payment in page["data"]]
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert seen == list(reversed(mine))


def test_list_filters_by_status(client: TestClient, tokens: TokenFactory) -> None:
    ok = _create(client, tokens, "me").json()["payment_id"]
    declined = _create(
        client, tokens, "me", {"amount": "1.00", "payment_method": "pm_card_chargeDeclined"}
    ).json()["payment_id"]
    _final(client, tokens, "me", ok)
    _final(client, tokens, "me", declined)
    failed = client.get("/payments?status=failed", headers=tokens.headers("me")).json()
    assert [payment["payment_id"] for payment in failed["data"]] == [declined]
    bad = client.get("/payments?status=lost", headers=tokens.headers("me"))
    assert bad.status_code == 422


def test_list_refuses_a_forged_cursor(sqlite_client: TestClient, tokens: TokenFactory) -> None:
    response = sqlite_client.get("/payments?cursor=bm90LWEtY3Vyc29y", headers=tokens.headers("me"))
    assert response.status_code == 422


def test_metrics_count_payments_and_show_the_outbox(
    sqlite_client: TestClient, tokens: TokenFactory, accounts: FakeSubscriber
) -> None:
    _final(sqlite_client, tokens, "me", _create(sqlite_client, tokens, "me").json()["payment_id"])
    wait_for(lambda: accounts.events("payment.succeeded"), what="delivery")
    text = sqlite_client.get("/metrics").text
    assert 'payments_total{status="succeeded"}' in text
    assert "payments_processing_seconds_bucket" in text
    assert "payments_outbox_backlog" in text
    assert "payments_outbox_oldest_undelivered_age_seconds" in text
    assert 'payments_event_deliveries_total{outcome="delivered",subscriber="accounts"}' in text


def test_openapi_documents_the_payment_endpoints(sqlite_client: TestClient) -> None:
    schema = sqlite_client.get("/openapi.json").json()
    create = schema["paths"]["/payments"]["post"]
    assert {"202", "400", "409", "422"} <= set(create["responses"])
    assert any(param["name"] == "idempotency-key" for param in create["parameters"])
    assert "/payments/{payment_id}" in schema["paths"]


@pytest.fixture
def declared(
    data_dir: Path, tokens: TokenFactory, accounts: FakeSubscriber, sqlite_client: TestClient
) -> Iterator[TestClient]:
    """The service on ``sqlite_client``'s database with its declared routes serving every path."""
    settings = _test_settings(data_dir, f"sqlite:///{data_dir / 'payments.db'}")
    app = build_app(settings, token_verifier=tokens.verifier, event_transport=accounts.transport)
    with TestClient(declared_routes_only(app)) as test_client:
        yield test_client


def _answer(response: Any) -> tuple[int, Any, str | None, bool]:
    body = response.json()
    if isinstance(body, dict):  # a new payment each time
        body = {
            k: v for k, v in body.items() if k not in ("payment_id", "created_at", "updated_at")
        }
    location = response.headers.get("Location", "")
    return (
        response.status_code,
        body,
        response.headers.get("WWW-Authenticate"),
        location.startswith("/payments/") and location.endswith(response.json()["payment_id"]),
    )


CREATE_CASES: dict[str, tuple[str, str | None, bool]] = {
    # name: (body, Idempotency-Key ("fresh": a new one per request), signed in)
    "a payment": ('{"amount": 10.50, "description": "tea"}', "fresh", True),
    "a quoted key": ('{"amount": "1.00"}', '"quoted"', True),
    "another currency than the ledger's": ('{"amount": "1.00", "currency": "EUR"}', "fresh", True),
    "an unknown currency": ('{"amount": "1.00", "currency": "XXX"}', "fresh", True),
    "too precise": ('{"amount": "1.001"}', "fresh", True),
    "no key": ('{"amount": "1.00"}', None, True),
    "an empty key": ('{"amount": "1.00"}', "", True),
    "a key too long": ('{"amount": "1.00"}', "k" * 256, True),
    "malformed JSON": ('{"amount": ', "fresh", True),
    "malformed JSON, no token": ('{"amount": ', "fresh", False),
    "not an object": ("[]", "fresh", True),
    "no token": ('{"amount": "1.00"}', "fresh", False),
}


@pytest.mark.parametrize("case", CREATE_CASES)
def test_the_direct_create_route_answers_as_the_declared_one(
    sqlite_client: TestClient, declared: TestClient, tokens: TokenFactory, case: str
) -> None:
    body, key, signed_in = CREATE_CASES[case]

    def headers() -> dict[str, str]:
        sent = {"Content-Type": "application/json", **(tokens.headers("u1") if signed_in else {})}
        if key is not None:
            sent["Idempotency-Key"] = str(uuid.uuid4()) if key == "fresh" else key
        return sent

    by_router = declared.post("/payments", content=body, headers=headers())
    direct = sqlite_client.post("/payments", content=body, headers=headers())
    if key == '"quoted"':  # the same key twice: the direct route's answer is the replay
        assert direct.headers["Idempotent-Replayed"] == "true"
    assert _answer(direct) == _answer(by_router)
