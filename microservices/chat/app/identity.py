"""Who opens a WebSocket: a token from ``?token=`` or ``Authorization: Bearer``, or nobody."""

from __future__ import annotations

from starlette.datastructures import Headers, QueryParams

from app.protocol import Identity
from servicekit.auth import InvalidToken, TokenVerifier


class Refused(Exception):
    """The handshake must be refused with a policy violation; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def token_from(query: QueryParams, headers: Headers) -> str | None:
    """The bearer token of a handshake (browsers can only pass it in the query string)."""
    token = query.get("token")
    if token:
        return token
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


async def identify(
    token: str | None, verifier: TokenVerifier, *, allow_anonymous: bool
) -> Identity:
    """The identity behind a handshake; raises Refused for a bad token or a forbidden anonymous."""
    if token is None:
        if not allow_anonymous:
            raise Refused("Sign in first: anonymous chat is disabled")
        return Identity()
    try:
        principal = await verifier.verify(token)
    except InvalidToken:
        raise Refused("Invalid or expired token") from None
    return Identity(user_id=principal.user_id, phone_number=principal.phone_number)
