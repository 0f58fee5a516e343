"""Access tokens against the served JWKS: an independent library accepts them, and every
kind of forged or misdirected token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from app.settings import Settings
from tests.support import ADMIN_PHONE, PASSWORD, User


@pytest.fixture
def settings(sqlite_settings: Settings) -> Settings:
    return sqlite_settings


@pytest.fixture
def client(sqlite_client: TestClient) -> TestClient:
    # Signatures and claims do not depend on the database engine.
    return sqlite_client


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _kid(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def _sign(signing_key_pem: str, claims: dict[str, Any], kid: str) -> str:
    key = serialization.load_pem_private_key(signing_key_pem.encode(), password=None)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})  # type: ignore[arg-type]


def _claims(user: User, settings: Settings, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": user.user_id,
        "iat": now,
        "exp": now + 300,
        "jti": "j",
        "phone_number": user.phone_number,
        "is_admin": False,
    }
    claims.update(changes)
    return claims


def test_jwks_publishes_the_rs256_signing_key(client: TestClient, alice: User) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    [key] = response.json()["keys"]
    assert key["kty"] == "RSA"
    assert key["use"] == "sig"
    assert key["alg"] == "RS256"
    assert key["kid"] == _kid(alice.access_token)
    assert {"n", "e"} <= set(key)
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private parts must never leave"


def test_jwks_can_be_cached_and_revalidated(client: TestClient) -> None:
    first = client.get("/.well-known/jwks.json")
    assert first.headers["Cache-Control"] == "public, max-age=300"
    etag = first.headers["ETag"]
    again = client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_an_independent_jwt_library_verifies_the_token_against_the_served_jwks(
    client: TestClient, alice: User, settings: Settings
) -> None:
    key_set = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
    token = jose_jwt.decode(alice.access_token, key_set, algorithms=["RS256"])
    jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": settings.jwt_issuer},
        aud={"essential": True, "value": settings.jwt_audience},
        sub={"essential": True, "value": alice.user_id},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    ).validate(token.claims)
    assert token.header["alg"] == "RS256"
    assert token.header["kid"] == key_set.keys[0].kid


def test_a_token_signed_by_the_service_key_with_correct_claims_is_accepted(
    client: TestClient, alice: User, settings: Settings, signing_key_pem: str
) -> None:
    # The control for the refusals below: only the one thing each changes makes them fail.
    token = _sign(signing_key_pem, _claims(alice, settings), _kid(alice.access_token))
    response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 60, "iat": int(time.time()) - 400},
        {"aud": "someone-else"},
        {"iss": "https://evil.example/accounts"},
        {"typ": "refresh"},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "not-an-access-token"],
)
def test_misdirected_or_expired_tokens_are_refused(
    client: TestClient,
    alice: User,
    settings: Settings,
    signing_key_pem: str,
    changes: dict[str, Any],
) -> None:
    token = _sign(signing_key_pem, _claims(alice, settings, **changes), _kid(alice.access_token))
    response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_tampered_token_is_refused(client: TestClient, alice: User) -> None:
    header, payload, signature = alice.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["is_admin"] = True
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    assert client.get("/users/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_an_unsigned_alg_none_token_is_refused(
    client: TestClient, alice: User, settings: Settings
) -> None:
    header = _b64(
        json.dumps({"alg": "none", "typ": "JWT", "kid": _kid(alice.access_token)}).encode()
    )
    payload = _b64(json.dumps(_claims(alice, settings)).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


def test_hs256_signed_with_the_public_key_is_refused(
    client: TestClient, alice: User, settings: Settings
) -> None:
    # Algorithm confusion: a verifier that let the token pick HS256 would use the public key,
    # which anyone can fetch, as the HMAC secret.
    jwk = client.get("/.well-known/jwks.json").json()["keys"][0]
    public_pem = jwt.PyJWK.from_dict(jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": jwk["kid"]}).encode())
    payload = _b64(json.dumps(_claims(alice, settings, is_admin=True)).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{_b64(mac)}"
    assert client.get("/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_token_from_an_unknown_key_is_refused(
    client: TestClient, alice: User, settings: Settings, signing_key_pem: str
) -> None:
    token = _sign(signing_key_pem, _claims(alice, settings), "some-other-kid")
    assert client.get("/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_password_grant_as_json_answers_an_oauth2_token_response(
    client: TestClient, alice: User
) -> None:
    response = client.post(
        "/auth/token", json={"phone_number": alice.phone_number, "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert response.headers["Cache-Control"] == "no-store"


def test_password_grant_as_the_oauth2_form_works_like_swagger_sends_it(
    client: TestClient, alice: User
) -> None:
    response = client.post(
        "/auth/token",
        data={"grant_type": "password", "username": alice.phone_number, "password": PASSWORD},
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["user_id"] == alice.user_id


def test_signing_in_with_a_differently_formatted_phone_works(
    client: TestClient, alice: User
) -> None:
    spaced = f"{alice.phone_number[:2]} {alice.phone_number[2:5]} {alice.phone_number[5:]}"
    response = client.post("/auth/token", json={"phone_number": spaced, "password": PASSWORD})
    assert response.status_code == 200


def test_access_token_names_the_user_and_their_role(
    client: TestClient, alice: User, admin: User, settings: Settings
) -> None:
    claims = jwt.decode(alice.access_token, options={"verify_signature": False})
    assert claims["sub"] == alice.user_id
    assert claims["phone_number"] == alice.phone_number
    assert claims["is_admin"] is False
    assert claims["iss"] == settings.jwt_issuer
    assert claims["aud"] == settings.jwt_audience
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_seconds
    assert claims["jti"]
    admin_claims = jwt.decode(admin.access_token, options={"verify_signature": False})
    assert admin_claims["is_admin"] is True
    assert admin_claims["phone_number"] == ADMIN_PHONE
