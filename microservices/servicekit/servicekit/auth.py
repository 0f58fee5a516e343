"""Bearer-token verification against the accounts service's JWKS, and the FastAPI dependencies.

Tokens are RS256 JWTs signed by accounts. Every service verifies them locally: keys come from
the JWKS URL, are cached, and are fetched again when a token names a ``kid`` we do not know
(rate-limited, so a stream of forged kids cannot turn us into a JWKS flooder).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import httpx
import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

logger = logging.getLogger("servicekit.auth")

ALGORITHM = "RS256"


class KeySource(Protocol):
    """Where verification keys come from."""

    async def get_key(self, kid: str) -> jwt.PyJWK | None:
        """The public key for ``kid``, or None if there is none."""
        ...


def keys_from_jwks(jwks: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    """Index a JWKS document's RS256 signing keys by kid, skipping anything else."""
    keys: dict[str, jwt.PyJWK] = {}
    for entry in jwks.get("keys", []):
        if entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig" or "kid" not in entry:
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK.from_dict(entry, algorithm=ALGORITHM)
        except jwt.PyJWTError:
            logger.warning("skipping unusable JWKS key", extra={"kid": entry.get("kid")})
    return keys


class StaticKeySource:
    """Keys given up front (tests, or a service that holds the keys itself)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.keys = keys_from_jwks(jwks)

    async def get_key(self, kid: str) -> jwt.PyJWK | None:
        return self.keys.get(kid)


class JWKSKeySource:
    """Keys fetched from a JWKS URL, cached, refreshed on expiry or on an unknown kid."""

    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float = 300.0,
        min_refresh_interval: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self.min_refresh_interval = min_refresh_interval
        self._client = client
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get_key(self, kid: str) -> jwt.PyJWK | None:
        now = time.monotonic()
        key = self._keys.get(kid)
        if key is not None and now - self._fetched_at < self.cache_seconds:
            return key
        async with self._lock:
            # Another request may have refreshed while we waited for the lock.
            age = time.monotonic() - self._fetched_at
            stale = kid not in self._keys or age >= self.cache_seconds
            if stale and age >= self.min_refresh_interval:
                await self._refresh()
            return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            if self._client is not None:
                response = await self._client.get(self.url, timeout=5.0)
            else:
                async with httpx.AsyncClient() as client:
                    response = await client.get(self.url, timeout=5.0)
            response.raise_for_status()
            self._keys = keys_from_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            # Keep serving the keys we have; an outage of accounts must not log everyone out.
            logger.warning("JWKS fetch failed", extra={"url": self.url, "error": str(exc)})
        finally:
            self._fetched_at = time.monotonic()


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller."""

    user_id: str
    phone_number: str | None
    is_admin: bool
    claims: dict[str, Any]


class InvalidToken(Exception):
    """The token is malformed, forged, expired or not meant for us."""


class TokenVerifier:
    """Checks signature (RS256 only), ``kid``, ``iss``, ``aud``, ``exp`` and ``sub``.

    Tokens it accepted are remembered, keyed by the exact token, so a client's repeated token
    costs one RS256 check (~100 µs) instead of one per request. A remembered token is trusted
    until its ``exp`` (never past it, leeway or not) and for at most ``max_age_seconds``,
    which bounds how long a token signed by a key since withdrawn from the JWKS stays
    accepted. Rejections are not remembered; at most ``max_entries`` tokens are, oldest first
    out. ``max_entries=0`` turns the memory off.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway: float = 5.0,
        max_entries: int = 10_000,
        max_age_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.max_entries = max_entries
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        """The principal a valid token names; raises InvalidToken otherwise."""
        now = self._clock()
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, valid_until = remembered
            if now < valid_until:
                return principal
            del self._verified[token]
        principal = await self._verify_uncached(token)
        if self.max_entries > 0:
            valid_until = min(float(principal.claims["exp"]), now + self.max_age_seconds)
            if len(self._verified) >= self.max_entries:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (principal, valid_until)
        return principal

    async def _verify_uncached(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        # Refuse "none", HS256-with-the-public-key and everything else before any key lookup.
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("unsupported algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token has no key id")
        key = await self.keys.get_key(kid)
        if key is None:
            raise InvalidToken("unknown key id")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        if claims.get("typ", "access") != "access":
            raise InvalidToken("not an access token")
        return Principal(
            user_id=str(claims["sub"]),
            phone_number=claims.get("phone_number"),
            is_admin=bool(claims.get("is_admin", False)),
            claims=claims,
        )


_bearer = HTTPBearer(auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def get_token_verifier(request: Request) -> TokenVerifier:
    """The verifier the app factory placed on the app."""
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


async def _verified_caller(request: Request, token: str) -> Principal:
    try:
        return await get_token_verifier(request).verify(token)
    except InvalidToken as exc:
        raise _unauthorized("Invalid or expired token") from exc


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller if a bearer token was sent (it must then be valid), else None."""
    if credentials is None:
        return None
    return await _verified_caller(request, credentials.credentials)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, read as FastAPI's
    ``HTTPBearer`` reads it (any case of "Bearer"); None for no value or another scheme."""
    scheme, token = get_authorization_scheme_param(authorization)
    if not token or scheme.lower() != "bearer":
        return None
    return token


async def authenticate(request: Request) -> Principal:
    """The verified caller of a route that takes the bare request (a direct route): what
    ``CurrentUser`` gives a declared route, with the same 401 answers."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise _unauthorized("Not authenticated")
    return await _verified_caller(request, token)


async def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """The caller; 401 with ``WWW-Authenticate: Bearer`` when no token was sent."""
    if principal is None:
        raise _unauthorized("Not authenticated")
    return principal


async def require_admin(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
    """The caller, who must be an admin (403 otherwise)."""
    if not principal.is_admin:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Admin only")
    return principal


CurrentUser = Annotated[Principal, Depends(require_principal)]
OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
AdminUser = Annotated[Principal, Depends(require_admin)]
