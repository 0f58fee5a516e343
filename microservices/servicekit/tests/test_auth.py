"""Token verification: only RS256 tokens from a known key, for us, unexpired, are accepted."""

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from fastapi.testclient import TestClient

from servicekit.auth import CurrentUser, InvalidToken, JWKSKeySource, TokenVerifier
from servicekit.testing import TEST_AUDIENCE, TEST_ISSUER, TokenFactory


def verify(verifier: TokenVerifier, token: str) -> Any:
    return asyncio.run(verifier.verify(token))


def test_a_valid_token_names_its_user(tokens: TokenFactory) -> None:
    principal = verify(
        tokens.verifier, tokens.issue("user-1", phone_number="+15550001", is_admin=True)
    )
    assert principal.user_id == "user-1"
    assert principal.phone_number == "+15550001"
    assert principal.is_admin is True


@pytest.mark.parametrize(
    "claims",
    [
        {"expires_in": -60},
        {"aud": "someone-else"},
        {"iss": "https://evil.example"},
        {"typ": "refresh"},
    ],
)
def test_expired_foreign_or_non_access_tokens_are_refused(
    tokens: TokenFactory, claims: dict[str, Any]
) -> None:
    with pytest.raises(InvalidToken):
        verify(tokens.verifier, tokens.issue("user-1", **claims))


def test_a_tampered_payload_is_refused(tokens: TokenFactory) -> None:
    header, payload, signature = tokens.issue("user-1").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["is_admin"] = True
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        verify(tokens.verifier, f"{header}.{forged}.{signature}")


def _unsigned(tokens: TokenFactory, alg: str) -> str:
    header = {"alg": alg, "typ": "JWT", "kid": tokens.kid}
    now = datetime.now(UTC)
    claims = {
        "iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "sub": "admin", "is_admin": True,
        "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=5)).timestamp()),
    }  # fmt: skip

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def test_alg_none_is_refused(tokens: TokenFactory) -> None:
    with pytest.raises(InvalidToken, match="algorithm"):
        verify(tokens.verifier, _unsigned(tokens, "none"))


def test_hs256_signed_with_the_public_key_is_refused(tokens: TokenFactory) -> None:
    # The classic algorithm-confusion attack: HMAC keyed with the RSA public key.
    public_pem = tokens.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "HS256", "typ": "JWT", "kid": tokens.kid}).encode()
    ).rstrip(b"=")
    body = _unsigned(tokens, "none").split(".")[1].encode()
    import hashlib
    import hmac

    signature = hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest()
    token = b".".join([header, body, base64.urlsafe_b64encode(signature).rstrip(b"=")])
    with pytest.raises(InvalidToken, match="algorithm"):
        verify(tokens.verifier, token.decode())


def test_a_token_from_another_key_is_refused(tokens: TokenFactory) -> None:
    stranger = TokenFactory()
    with pytest.raises(InvalidToken, match="unknown key"):
        verify(tokens.verifier, stranger.issue("user-1"))


def test_jwks_is_fetched_once_and_refetched_for_an_unknown_kid(tokens: TokenFactory) -> None:
    rotated = TokenFactory()
    served = {"jwks": tokens.jwks}
    fetches: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetches.append(str(request.url))
        return httpx.Response(200, json=served["jwks"])

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            source = JWKSKeySource("http://accounts/jwks", client=client, min_refresh_interval=0)
            verifier = TokenVerifier(source, issuer=TEST_ISSUER, audience=TEST_AUDIENCE)
            await verifier.verify(tokens.issue("a"))
            await verifier.verify(tokens.issue("b"))
            assert len(fetches) == 1  # cached
            served["jwks"] = {"keys": tokens.jwks["keys"] + rotated.jwks["keys"]}
            rotated_token = jwt.encode(
                jwt.decode(tokens.issue("c"), options={"verify_signature": False}),
                rotated.private_key,
                algorithm="RS256",
                headers={"kid": rotated.kid},
            )
            assert (await verifier.verify(rotated_token)).user_id == "c"
            assert len(fetches) == 2  # refetched for the new kid

    asyncio.run(scenario())


def test_unknown_kids_do_not_hammer_the_jwks_endpoint(tokens: TokenFactory) -> None:
    fetches: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetches.append(1)
        return httpx.Response(200, json=tokens.jwks)

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            source = JWKSKeySource("http://accounts/jwks", client=client, min_refresh_interval=60)
            for _ in range(20):
                assert await source.get_key("forged-kid") is None

    asyncio.run(scenario())
    assert len(fetches) == 1


def _protected_app(tokens: TokenFactory) -> FastAPI:
    app = FastAPI()
    app.state.token_verifier = tokens.verifier

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"user_id": user.user_id}

    return app


def test_missing_token_is_401_with_a_bearer_challenge(tokens: TokenFactory) -> None:
    response = TestClient(_protected_app(tokens)).get("/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_bad_token_is_401_with_a_bearer_challenge(tokens: TokenFactory) -> None:
    response = TestClient(_protected_app(tokens)).get(
        "/me", headers={"Authorization": "Bearer not.a.token"}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_good_token_reaches_the_route(tokens: TokenFactory) -> None:
    response = TestClient(_protected_app(tokens)).get("/me", headers=tokens.headers("u-7"))
    assert response.json() == {"user_id": "u-7"}
