"""Idempotency-Key semantics, following the IETF httpapi draft and Stripe's behaviour.

- Keys are scoped to the caller: two users may use the same key independently.
- A request is identified by a fingerprint of its method, path and body.
- The first request with a key holds it while it runs; its response is stored in the same
  transaction as its effects (see ``payments.accept_payment``, where claiming the key is
  part of that transaction too), so a retry replays exactly what the first one answered,
  and under any concurrency there is one effect per key.
- Same key, different request -> ``IdempotencyKeyReused`` (422).
- Same key while the first request is still running -> ``IdempotencyKeyInFlight`` (409).
- A request that died holding a key (its process crashed) stops blocking the key after the
  lock timeout; a retry with the same request then takes the key over.
- Keys are kept for a TTL (24 h by default), then purged and usable again.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from app import storage
from app.models import StoredResponse
from servicekit.db import Database

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# How often to re-read the key when it vanishes between our insert and our read (its
# in-flight request failed and released it); each pass is one short transaction.
_MAX_BEGIN_PASSES = 3


class InvalidIdempotencyKey(ValueError):
    """The header is missing or not a usable key (a 400)."""


class IdempotencyKeyReused(Exception):
    """The key was first used for a different request (a 422)."""


class IdempotencyKeyInFlight(Exception):
    """The first request with this key is still being processed (a 409)."""


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """This request holds the key: it must complete it (with its response) or release it."""

    caller_id: str
    key: str
    lock_token: str


@dataclass(frozen=True, slots=True)
class Replay:
    """The key was already used for this very request: answer what was answered then."""

    response: StoredResponse


def parse_idempotency_key(header: str | None) -> str:
    """The key from an ``Idempotency-Key`` header.

    Accepted both bare (``abc-123``, as Stripe's examples send it) and as the draft's
    structured-field string (``"abc-123"``, with ``\\"`` and ``\\\\`` escapes).
    """
    if header is None:
        raise InvalidIdempotencyKey(f"{HEADER} header is required")
    text = header.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = _unquote_sf_string(text[1:-1])
    if not text:
        raise InvalidIdempotencyKey(f"{HEADER} must not be empty")
    if len(text) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(f"{HEADER} must be at most {MAX_KEY_LENGTH} characters")
    if any(not (" " <= char <= "~") for char in text):
        raise InvalidIdempotencyKey(f"{HEADER} must be printable ASCII")
    return text


def _unquote_sf_string(inner: str) -> str:
    # RFC 8941 sf-string: only \" and \\ are escapes; a bare quote or other escape is invalid.
    chars: list[str] = []
    escaped = False
    for char in inner:
        if escaped:
            if char not in ('"', "\\"):
                raise InvalidIdempotencyKey(f"{HEADER} is not a valid quoted string")
            chars.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            raise InvalidIdempotencyKey(f"{HEADER} is not a valid quoted string")
        else:
            chars.append(char)
    if escaped:
        raise InvalidIdempotencyKey(f"{HEADER} is not a valid quoted string")
    return "".join(chars)


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 over the method, the path (without gateway prefix) and the exact body bytes."""
    digest = hashlib.sha256()
    for part in (method.upper().encode("ascii"), path.encode("utf-8")):
        digest.update(part)
        digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


async def begin_idempotent_request(
    db: Database,
    *,
    caller_id: str,
    key: str,
    fingerprint: str,
    now: datetime,
    ttl: timedelta,
    lock_timeout: timedelta,
) -> KeyClaim | Replay:
    """Claim the caller's key for this request in a short transaction of its own.

    The key stays in flight (concurrent requests with it get ``IdempotencyKeyInFlight``)
    until ``storage.complete_idempotency_key`` or ``release_key``. For work that fits in one
    database transaction, ``claim_key`` with a response is cheaper and never in flight.
    """
    async with db.transaction() as conn:
        return await claim_key(
            conn,
            caller_id=caller_id,
            key=key,
            fingerprint=fingerprint,
            now=now,
            ttl=ttl,
            lock_timeout=lock_timeout,
        )


async def claim_key(
    conn: AsyncConnection,
    *,
    caller_id: str,
    key: str,
    fingerprint: str,
    now: datetime,
    ttl: timedelta,
    lock_timeout: timedelta,
    response: StoredResponse | None = None,
) -> KeyClaim | Replay:
    """Claim the caller's key in the caller's transaction, or say how to answer instead.

    With ``response``, the key is stored completed with it: the caller then writes the
    request's effects in the same transaction, so key, effects and response commit (or roll
    back) together. Returns a ``KeyClaim`` or a ``Replay``; raises ``IdempotencyKeyReused``
    or ``IdempotencyKeyInFlight``.
    """
    lock_token = str(uuid.uuid4())
    claim = KeyClaim(caller_id=caller_id, key=key, lock_token=lock_token)
    for _ in range(_MAX_BEGIN_PASSES):
        if await storage.insert_idempotency_key(
            conn,
            caller_id=caller_id,
            key=key,
            fingerprint=fingerprint,
            lock_token=lock_token,
            now=now,
            response=response,
        ):
            return claim
        record = await storage.get_idempotency_key(conn, caller_id, key)
        if record is None:
            continue  # released between our insert and our read (PostgreSQL); try again
        if record.created_at <= now - ttl:
            # Expired but not purged yet: the key is free again.
            if await storage.restart_idempotency_key(
                conn, record, fingerprint=fingerprint, lock_token=lock_token, now=now
            ):
                return await _completed(conn, claim, response, now)
            continue
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(f"This {HEADER} was already used for a different request")
        if record.response is not None:
            return Replay(record.response)
        if record.locked_at <= now - lock_timeout and await storage.take_over_idempotency_key(
            conn, record, lock_token=lock_token, now=now
        ):
            return await _completed(conn, claim, response, now)
        raise IdempotencyKeyInFlight(
            f"A request with this {HEADER} is still being processed; retry shortly"
        )
    raise IdempotencyKeyInFlight(f"A request with this {HEADER} is changing; retry shortly")


async def _completed(
    conn: AsyncConnection, claim: KeyClaim, response: StoredResponse | None, now: datetime
) -> KeyClaim:
    # We hold the key in this transaction, so completing it cannot fail.
    if response is not None and not await storage.complete_idempotency_key(
        conn,
        caller_id=claim.caller_id,
        key=claim.key,
        lock_token=claim.lock_token,
        response=response,
        now=now,
    ):
        raise IdempotencyKeyInFlight(f"A request with this {HEADER} took over; retry")
    return claim


async def release_key(db: Database, claim: KeyClaim) -> None:
    """Give the key back after the request failed without effects, so a retry can run."""
    async with db.transaction() as conn:
        await storage.release_idempotency_key(
            conn, caller_id=claim.caller_id, key=claim.key, lock_token=claim.lock_token
        )


async def purge_expired_keys(db: Database, *, now: datetime, ttl: timedelta) -> int:
    """Delete keys older than the TTL; how many were deleted."""
    async with db.transaction() as conn:
        return await storage.delete_idempotency_keys_created_before(conn, now - ttl)
