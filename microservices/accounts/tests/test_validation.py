"""Requests refused before any storage is touched: bad input, missing tokens, bad grants.

None of this depends on the database engine, so it runs on SQLite only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import build_app
from app.settings import Settings
from servicekit.testing import declared_routes_only
from tests.support import PASSWORD, User, balance, fund, next_phone


@pytest.fixture
def settings(sqlite_settings: Settings) -> Settings:
    return sqlite_settings


@pytest.fixture
def client(sqlite_client: TestClient) -> TestClient:
    return sqlite_client


def test_account_of_unknown_user_is_404(client: TestClient, alice: User) -> None:
    response = client.get("/accounts/user/nobody", headers=alice.headers)
    assert response.status_code == 404


def test_accounts_need_a_token(client: TestClient, alice: User) -> None:
    assert client.get(f"/accounts/user/{alice.user_id}").status_code == 401


@pytest.mark.parametrize(
    "amount",
    ["0", "0.00", "-5.00", "1.001", "1e2", "NaN", "Infinity", "abc", "", None, True, 0, -1,
     "1000000000.00", [1]],
)  # fmt: skip
def test_invalid_amounts_are_422_and_move_nothing(
    client: TestClient, alice: User, bob: User, amount: Any
) -> None:
    fund(client, alice, "5.00")
    response = client.post(
        "/transactions",
        json={"sender_id": alice.account_id, "receiver_id": bob.account_id, "amount": amount},
        headers=alice.headers,
    )
    assert response.status_code == 422
    assert balance(client, alice) == "5.00"


@pytest.mark.parametrize("raw", ["1e2", "1E-2", "0.001", "NaN", "-Infinity"])
def test_number_tricks_in_the_raw_json_are_422(
    client: TestClient, alice: User, bob: User, raw: str
) -> None:
    body = (
        f'{{"sender_id": "{alice.account_id}", "receiver_id": "{bob.account_id}", "amount": {raw}}}'
    )
    response = client.post(
        "/transactions",
        content=body,
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_sending_to_the_same_account_is_422(client: TestClient, alice: User) -> None:
    fund(client, alice, "5.00")
    response = client.post(
        "/transactions",
        json={"sender_id": alice.account_id, "receiver_id": alice.account_id, "amount": "1.00"},
        headers=alice.headers,
    )
    assert response.status_code == 422


def test_a_transfer_needs_a_token(client: TestClient, alice: User, bob: User) -> None:
    response = client.post(
        "/transactions",
        json={"sender_id": alice.account_id, "receiver_id": bob.account_id, "amount": "1.00"},
    )
    assert response.status_code == 401


def test_unknown_transaction_is_404(client: TestClient, alice: User) -> None:
    response = client.get("/transactions/nope", headers=alice.headers)
    assert response.status_code == 404


@pytest.mark.parametrize("cursor", ["garbage", "e30", "WzEsMl0"])
def test_a_bad_cursor_is_422(client: TestClient, alice: User, cursor: str) -> None:
    response = client.get(
        f"/accounts/{alice.account_id}/transactions",
        params={"cursor": cursor},
        headers=alice.headers,
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"phone_number": "12345", "password": PASSWORD},
        {"phone_number": "1234567890123456", "password": PASSWORD},
        {"phone_number": "phone-me-maybe", "password": PASSWORD},
        {"phone_number": "++15550109999", "password": PASSWORD},
        {"phone_number": "5550109999", "password": "zQ9!kk"},
        {"phone_number": "5550109999", "password": "x" * 129},
        {"phone_number": "5550109999", "password": PASSWORD, "date_of_birth": "1990-02-30"},
        {"phone_number": "5550109999", "password": PASSWORD, "date_of_birth": "1850-01-01"},
        {"phone_number": "5550109999"},
        {"password": PASSWORD},
    ],
)
def test_invalid_registrations_are_422_and_do_not_create_the_user(
    client: TestClient, body: dict[str, str]
) -> None:
    response = client.post("/users", json=body)
    assert response.status_code == 422
    assert "detail" in response.json()
    if "password" in body:
        assert body["password"] not in response.text
    # Nothing was stored: the same phone with valid input still registers.
    retry = client.post("/users", json={"phone_number": "5550109999", "password": PASSWORD})
    assert retry.status_code == 200


def test_date_of_birth_must_be_in_the_past(client: TestClient) -> None:
    today = datetime.now(UTC).date().isoformat()
    response = client.post(
        "/users", json={"phone_number": next_phone(), "password": PASSWORD, "date_of_birth": today}
    )
    assert response.status_code == 422
    assert "past" in response.text


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
)
def test_users_me_without_a_valid_token_is_401_with_www_authenticate(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/users/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_reading_a_user_needs_a_token(client: TestClient, alice: User) -> None:
    assert client.get(f"/users/{alice.user_id}").status_code == 401


def test_unknown_user_is_404(client: TestClient, alice: User) -> None:
    response = client.get("/users/00000000-0000-0000-0000-000000000000", headers=alice.headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "User not found"}


def test_wrong_password_and_unknown_phone_get_the_same_401(client: TestClient, alice: User) -> None:
    attempts = [
        {"phone_number": alice.phone_number, "password": "not the password"},
        {"phone_number": "+19999999999", "password": PASSWORD},
        {"phone_number": "not a phone", "password": PASSWORD},
    ]
    answers = [client.post("/auth/token", json=attempt) for attempt in attempts]
    assert {response.status_code for response in answers} == {401}
    assert {response.text for response in answers} == {
        '{"detail":"Incorrect phone number or password"}'
    }
    assert all(response.headers["WWW-Authenticate"] == "Bearer" for response in answers)


def test_unsupported_grant_type_is_400(client: TestClient) -> None:
    response = client.post("/auth/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert "grant_type" in response.json()["detail"]


def test_missing_fields_are_422_without_echoing_the_password(client: TestClient) -> None:
    response = client.post("/auth/token", json={"password": "my secret pass"})
    assert response.status_code == 422
    assert "my secret pass" not in response.text


@pytest.mark.parametrize("token", ["made-up", "x" * 600])
def test_unknown_refresh_tokens_are_refused(client: TestClient, token: str) -> None:
    response = client.post(
        "/auth/token", json={"grant_type": "refresh_token", "refresh_token": token}
    )
    assert response.status_code in (401, 422)
    assert token not in response.text


def test_an_access_token_is_not_a_refresh_token(client: TestClient, alice: User) -> None:
    response = client.post(
        "/auth/token", json={"grant_type": "refresh_token", "refresh_token": alice.access_token}
    )
    assert response.status_code in (401, 422)
    assert response.status_code != 200


def test_the_docs_offer_the_password_flow_for_swaggers_authorize_button(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    flows = spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    # Relative, so that /accounts/docs (behind the gateway) posts to /accounts/auth/token.
    assert flows["password"]["tokenUrl"] == "auth/token"
    token_body = spec["paths"]["/auth/token"]["post"]["requestBody"]["content"]
    assert {"application/x-www-form-urlencoded", "application/json"} <= set(token_body)


@pytest.fixture
def declared(settings: Settings) -> Iterator[TestClient]:
    """The service on the same database with its declared routes serving every path."""
    with TestClient(declared_routes_only(build_app(settings))) as test_client:
        yield test_client


def _answer(response: Any) -> tuple[int, Any, str | None, str | None]:
    body = response.json()
    if isinstance(body, dict):  # a new transaction each time
        body = {k: v for k, v in body.items() if k not in ("transaction_id", "created_at")}
    return (
        response.status_code,
        body,
        response.headers.get("WWW-Authenticate"),
        response.headers.get("Idempotent-Replayed"),
    )


TRANSFER_CASES: dict[str, tuple[str, dict[str, str], str]] = {
    # name: (body with {a} and {b} for the accounts, headers, who signs in: alice, bob or nobody)
    "a transfer": ('{{"sender_id": "{a}", "receiver_id": "{b}", "amount": "0.50"}}', {}, "alice"),
    "more than the balance": (
        '{{"sender_id": "{a}", "receiver_id": "{b}", "amount": 99.00}}', {}, "alice"
    ),
    "too precise": ('{{"sender_id": "{a}", "receiver_id": "{b}", "amount": "0.001"}}', {}, "alice"),
    "an exponent": ('{{"sender_id": "{a}", "receiver_id": "{b}", "amount": 1e2}}', {}, "alice"),
    "the same account": ('{{"sender_id": "{a}", "receiver_id": "{a}", "amount": 1}}', {}, "alice"),
    "not the owner": ('{{"sender_id": "{a}", "receiver_id": "{b}", "amount": 1}}', {}, "bob"),
    "an unknown receiver": (
        '{{"sender_id": "{a}", "receiver_id": "nobody", "amount": 1}}', {}, "alice"
    ),
    "no token": ('{{"sender_id": "{a}", "receiver_id": "{b}", "amount": 1}}', {}, "nobody"),
    "malformed JSON, no token": ('{{"sender_id": ', {}, "nobody"),
    "no body": ("", {}, "alice"),
    "an empty key and no amount": (
        '{{"sender_id": "{a}", "receiver_id": "{b}"}}', {"Idempotency-Key": ""}, "alice"
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", TRANSFER_CASES)
def test_the_direct_transfer_route_answers_as_the_declared_one(
    client: TestClient, declared: TestClient, alice: User, bob: User, case: str
) -> None:
    fund(client, alice, "5.00")
    template, headers, who = TRANSFER_CASES[case]
    body = template.format(a=alice.account_id, b=bob.account_id)
    signed_in = {"alice": alice.headers, "bob": bob.headers}.get(who, {})
    headers = {"Content-Type": "application/json", **headers, **signed_in}
    by_router = declared.post("/transactions", content=body, headers=headers)
    direct = client.post("/transactions", content=body, headers=headers)
    assert _answer(direct) == _answer(by_router)
