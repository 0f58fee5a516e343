"""Accounts through the real gateway: sign-up, sign-in, tokens others can verify, restarts."""

from __future__ import annotations

import httpx
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from devstack import Stack
from tests.platform_users import PASSWORD, sign_up


def test_register_sign_in_and_read_me_through_the_gateway(gateway: httpx.Client) -> None:
    user = sign_up(gateway)
    me = gateway.get("/accounts/users/me", headers=user.headers)
    assert me.status_code == 200
    assert me.json()["user_id"] == user.user_id
    assert me.json()["account_id"] == user.account_id
    account = gateway.get(f"/accounts/accounts/user/{user.user_id}", headers=user.headers)
    assert account.json()["balance"] == "0.00"


def test_the_oauth2_form_sign_in_works_through_the_gateway(gateway: httpx.Client) -> None:
    user = sign_up(gateway)
    response = gateway.post(
        "/accounts/auth/token", data={"username": user.phone_number, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


def test_tokens_verify_against_the_jwks_served_through_the_gateway(gateway: httpx.Client) -> None:
    user = sign_up(gateway)
    jwks = gateway.get("/accounts/.well-known/jwks.json")
    assert jwks.status_code == 200
    assert "max-age" in jwks.headers["Cache-Control"]
    token = jose_jwt.decode(
        user.access_token, KeySet.import_key_set(jwks.json()), algorithms=["RS256"]
    )
    jose_jwt.JWTClaimsRegistry(
        sub={"essential": True, "value": user.user_id},
        exp={"essential": True},
        iss={"essential": True},
        aud={"essential": True},
    ).validate(token.claims)


def test_without_a_token_the_gateway_passes_on_a_401_with_www_authenticate(
    gateway: httpx.Client,
) -> None:
    response = gateway.get("/accounts/users/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_the_events_endpoint_is_not_reachable_from_outside(gateway: httpx.Client) -> None:
    response = gateway.post("/accounts/internal/events", json={})
    assert response.status_code == 404


def test_a_user_and_their_token_survive_an_accounts_restart(
    gateway: httpx.Client, stack: Stack
) -> None:
    user = sign_up(gateway)
    kids_before = gateway.get("/accounts/.well-known/jwks.json").json()["keys"]
    stack.stop_service("accounts")
    stack.start_service("accounts")
    # Same data dir: the user, their password and the signing key are all still there.
    me = gateway.get("/accounts/users/me", headers=user.headers)
    assert me.status_code == 200
    assert me.json()["user_id"] == user.user_id
    again = gateway.post(
        "/accounts/auth/token", json={"phone_number": user.phone_number, "password": PASSWORD}
    )
    assert again.status_code == 200
    assert gateway.get("/accounts/.well-known/jwks.json").json()["keys"] == kids_before
