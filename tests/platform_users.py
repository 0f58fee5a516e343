"""Signing up and signing in through the gateway, as every system test needs a real user."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class SignedInUser:
    """A registered user with a fresh access token."""

    user_id: str
    phone_number: str
    account_id: str
    access_token: str

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer`` for this user."""
        return {"Authorization": f"Bearer {self.access_token}"}


def random_phone() -> str:
    """A phone number nobody has registered yet (E.164-like, 12 digits)."""
    return "+1555" + "".join(secrets.choice("0123456789") for _ in range(8))


def sign_up(gateway: httpx.Client, phone_number: str | None = None) -> SignedInUser:
    """Register a new user through the gateway and sign in with the password flow (JSON)."""
    phone = phone_number or random_phone()
    created = gateway.post("/accounts/users", json={"phone_number": phone, "password": PASSWORD})
    assert created.status_code == 200, created.text
    user = created.json()
    token = gateway.post(
        "/accounts/auth/token", json={"phone_number": user["phone_number"], "password": PASSWORD}
    )
    assert token.status_code == 200, token.text
    return SignedInUser(
        user_id=user["user_id"],
        phone_number=user["phone_number"],
        account_id=user["account_id"],
        access_token=token.json()["access_token"],
    )
