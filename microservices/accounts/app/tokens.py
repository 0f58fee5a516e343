"""Access tokens (RS256 JWTs every service verifies) and refresh tokens (opaque, single-use)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from app.keys import KeyStore
from servicekit.auth import ALGORITHM


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A signed access token and its lifetime in seconds."""

    token: str
    expires_in: int


class AccessTokenIssuer:
    """Signs access tokens with the key store's current key."""

    def __init__(self, keys: KeyStore, *, issuer: str, audience: str, ttl: timedelta) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl

    def issue(self, *, user_id: str, phone_number: str, is_admin: bool) -> AccessToken:
        """A token for the user: ``iss aud sub exp iat jti phone_number is_admin`` and a kid."""
        key = self.keys.signing_key()
        if key.private_key is None:
            raise RuntimeError(f"signing key {key.kid} has no private half")
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id,
            "iat": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
            "typ": "access",
            "phone_number": phone_number,
            "is_admin": is_admin,
        }
        token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
        return AccessToken(token, int(self.ttl.total_seconds()))


def new_refresh_token() -> str:
    """A fresh refresh token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def refresh_token_hash(token: str) -> str:
    """What is stored for a refresh token (it has full entropy, so a plain SHA-256 suffices)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
