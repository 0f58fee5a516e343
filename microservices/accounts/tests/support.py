"""Helpers for the accounts tests: users that sign up and in through the API, and funding."""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from servicekit.signing import sign_payload

PASSWORD = "correct horse battery staple"
ADMIN_PHONE = "+15550000001"
ADMIN_PASSWORD = "admin's own long password"
EVENTS_SECRET = "test-events-secret"

_phones = itertools.count(5_550_100_000)

Client = TestClient | httpx.Client


@dataclass(frozen=True)
class User:
    """A registered, signed-in user."""

    user_id: str
    account_id: str
    phone_number: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer`` with this user's access token."""
        return {"Authorization": f"Bearer {self.access_token}"}


def next_phone() -> str:
    """A phone number no test has used yet."""
    return f"+1{next(_phones)}"


def sign_in(client: Client, phone_number: str, password: str = PASSWORD) -> User:
    """Sign in with the JSON password grant and look the user up."""
    token = client.post("/auth/token", json={"phone_number": phone_number, "password": password})
    assert token.status_code == 200, token.text
    tokens = token.json()
    me = client.get("/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200, me.text
    return User(
        user_id=me.json()["user_id"],
        account_id=me.json()["account_id"],
        phone_number=me.json()["phone_number"],
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
    )


def sign_up(client: Client, phone_number: str | None = None, password: str = PASSWORD) -> User:
    """Register a new user and sign them in."""
    phone = phone_number or next_phone()
    created = client.post("/users", json={"phone_number": phone, "password": password})
    assert created.status_code == 200, created.text
    return sign_in(client, created.json()["phone_number"], password)


def payment_event(
    user_id: str, amount: str, *, event_type: str = "payment.succeeded", currency: str = "USD"
) -> dict[str, Any]:
    """A payment event as the payments service sends it."""
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "created_at": "2026-12-01T12:00:00+00:00",
        "data": {
            "payment_id": str(uuid.uuid4()),
            "user_id": user_id,
            "amount": amount,
            "currency": currency,
        },
    }


def deliver(
    client: Client, event: dict[str, Any], secret: str = EVENTS_SECRET, **sign: Any
) -> httpx.Response:
    """POST a signed event to /internal/events."""
    body = json.dumps(event).encode("utf-8")
    return client.post(
        "/internal/events",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Webhook-Signature": sign_payload(secret, body, **sign),
        },
    )


def fund(client: Client, user: User, amount: str) -> None:
    """Credit a user's account the way a succeeded payment does."""
    response = deliver(client, payment_event(user.user_id, amount))
    assert response.json() == {"status": "applied"}, response.text


def balance(client: Client, user: User) -> str:
    """The user's balance, as they see it."""
    response = client.get(f"/accounts/user/{user.user_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    value: str = response.json()["balance"]
    return value
