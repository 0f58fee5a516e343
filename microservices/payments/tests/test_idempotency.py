"""Idempotency-Key semantics: parsing, replay, mismatch, in-flight, caller scope and TTL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import storage
from app.idempotency import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    KeyClaim,
    Replay,
    begin_idempotent_request,
    parse_idempotency_key,
    purge_expired_keys,
    release_key,
    request_fingerprint,
)
from app.models import NewPayment
from app.payments import AcceptedPayment, accept_payment
from servicekit.db import Database
from servicekit.testing import TokenFactory

TTL = timedelta(hours=24)
LOCK_TIMEOUT = timedelta(seconds=60)
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


# -- the header -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("abc-123", "abc-123"),
        ('"abc-123"', "abc-123"),
        ("  spaced  ", "spaced"),
        (r'"quote \" and backslash \\"', 'quote " and backslash \\'),
        ("x" * 255, "x" * 255),
        ('"' + "x" * 255 + '"', "x" * 255),
    ],
)
def test_key_is_accepted_bare_and_as_a_structured_field_string(header: str, key: str) -> None:
    assert parse_idempotency_key(header) == key


@pytest.mark.parametrize(
    "header",
    [None, "", '""', "x" * 256, '"' + "x" * 256 + '"', "tab\there", '"a"b"', r'"bad \n"', "é"],
)
def test_unusable_keys_are_refused(header: str | None) -> None:
    with pytest.raises(InvalidIdempotencyKey):
        parse_idempotency_key(header)


def test_fingerprint_covers_method_path_and_body() -> None:
    base = request_fingerprint("POST", "/payments", b'{"amount": 1}')
    assert base == request_fingerprint("post", "/payments", b'{"amount": 1}')
    assert base != request_fingerprint("PUT", "/payments", b'{"amount": 1}')
    assert base != request_fingerprint("POST", "/payment", b'{"amount": 1}')
    assert base != request_fingerprint("POST", "/payments", b'{"amount": 2}')


# -- over HTTP --------------------------------------------------------------------------------


def _post(client: TestClient, tokens: TokenFactory, user: str, key: str | None, body: bytes) -> Any:
    headers = {**tokens.headers(user), "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/payments", content=body, headers=headers)


def _payment_count(client: TestClient, tokens: TokenFactory, user: str) -> int:
    page = client.get("/payments?limit=100", headers=tokens.headers(user)).json()
    return len(page["data"])


def test_missing_key_is_a_bad_request(sqlite_client: TestClient, tokens: TokenFactory) -> None:
    response = _post(sqlite_client, tokens, "u", None, b'{"amount": 1}')
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]


def test_key_longer_than_255_is_a_bad_request(
    sqlite_client: TestClient, tokens: TokenFactory
) -> None:
    response = _post(sqlite_client, tokens, "u", "k" * 256, b'{"amount": 1}')
    assert response.status_code == 400
    assert _payment_count(sqlite_client, tokens, "u") == 0


def test_retry_replays_the_first_response(client: TestClient, tokens: TokenFactory) -> None:
    first = _post(client, tokens, "u", "key-1", b'{"amount": 12.50}')
    # The worker moves the payment on meanwhile; the replay still shows the first answer.
    retry = _post(client, tokens, "u", '"key-1"', b'{"amount": 12.50}')
    assert first.status_code == retry.status_code == 202
    assert retry.content == first.content
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _payment_count(client, tokens, "u") == 1


def test_same_key_with_a_different_request_is_refused(
    sqlite_client: TestClient, tokens: TokenFactory
) -> None:
    assert _post(sqlite_client, tokens, "u", "key-1", b'{"amount": 1}').status_code == 202
    response = _post(sqlite_client, tokens, "u", "key-1", b'{"amount": 2}')
    assert response.status_code == 422
    assert "different request" in response.json()["detail"]
    assert _payment_count(sqlite_client, tokens, "u") == 1


def test_keys_are_scoped_to_the_caller(sqlite_client: TestClient, tokens: TokenFactory) -> None:
    alice = _post(sqlite_client, tokens, "alice", "shared-key", b'{"amount": 1}')
    bob = _post(sqlite_client, tokens, "bob", "shared-key", b'{"amount": 1}')
    assert alice.status_code == bob.status_code == 202
    assert "Idempotent-Replayed" not in bob.headers
    assert alice.json()["payment_id"] != bob.json()["payment_id"]
    assert bob.json()["user_id"] == "bob"


def test_request_while_the_first_is_in_flight_conflicts(
    sqlite_client: TestClient, tokens: TokenFactory, data_dir: Path
) -> None:
    body = b'{"amount": 1}'
    fingerprint = request_fingerprint("POST", "/payments", body)

    async def hold_key() -> KeyClaim | Replay:
        db = Database(f"sqlite:///{data_dir / 'payments.db'}")
        try:
            return await begin_idempotent_request(
                db, caller_id="u", key="busy", fingerprint=fingerprint,
                now=datetime.now(UTC), ttl=TTL, lock_timeout=LOCK_TIMEOUT,
            )  # fmt: skip
        finally:
            await db.dispose()

    claim = asyncio.run(hold_key())
    assert isinstance(claim, KeyClaim)
    response = _post(sqlite_client, tokens, "u", "busy", body)
    assert response.status_code == 409
    assert response.headers["Retry-After"] == "1"
    assert _payment_count(sqlite_client, tokens, "u") == 0

    async def release() -> None:
        db = Database(f"sqlite:///{data_dir / 'payments.db'}")
        try:
            await release_key(db, claim)
        finally:
            await db.dispose()

    asyncio.run(release())
    assert _post(sqlite_client, tokens, "u", "busy", body).status_code == 202


# -- the domain, with a controlled clock ------------------------------------------------------


async def _accept(db: Database, key: str, now: datetime, amount: str = "10.00") -> AcceptedPayment:
    return await accept_payment(
        db,
        NewPayment(Decimal(amount), "USD", None, "pm_card_visa"),
        payer_id="u",
        idempotency_key=key,
        fingerprint=request_fingerprint("POST", "/payments", amount.encode()),
        location_base="/payments",
        subscribers=[],
        request_id=None,
        ttl=TTL,
        lock_timeout=LOCK_TIMEOUT,
        now=now,
    )


async def _payment_ids(db: Database) -> list[str]:
    async with db.read() as conn:
        return [payment.id for payment in await storage.list_payments(conn, "u", limit=1000)]


@pytest.mark.anyio
async def test_key_is_replayed_until_its_ttl_and_usable_again_after_the_purge(
    db: Database,
) -> None:
    first = await _accept(db, "k", T0)
    replay = await _accept(db, "k", T0 + TTL - timedelta(seconds=1))
    assert replay.replayed
    assert replay.response == first.response

    assert await purge_expired_keys(db, now=T0 + TTL - timedelta(seconds=1), ttl=TTL) == 0
    assert await purge_expired_keys(db, now=T0 + TTL + timedelta(seconds=1), ttl=TTL) == 1
    again = await _accept(db, "k", T0 + TTL + timedelta(seconds=2))
    assert not again.replayed
    assert len(await _payment_ids(db)) == 2


@pytest.mark.anyio
async def test_expired_key_not_yet_purged_starts_afresh(db: Database) -> None:
    await _accept(db, "k", T0)
    later = await _accept(db, "k", T0 + TTL, amount="20.00")
    assert not later.replayed
    assert len(await _payment_ids(db)) == 2


@pytest.mark.anyio
async def test_key_abandoned_by_a_crashed_request_is_taken_over_after_the_lock_timeout(
    db: Database,
) -> None:
    fingerprint = request_fingerprint("POST", "/payments", b"10.00")
    crashed = await begin_idempotent_request(
        db, caller_id="u", key="k", fingerprint=fingerprint,
        now=T0, ttl=TTL, lock_timeout=LOCK_TIMEOUT,
    )  # fmt: skip
    assert isinstance(crashed, KeyClaim)
    with pytest.raises(IdempotencyKeyInFlight):
        await _accept(db, "k", T0 + LOCK_TIMEOUT - timedelta(seconds=1))
    retried = await _accept(db, "k", T0 + LOCK_TIMEOUT)
    assert not retried.replayed
    # The crashed request cannot complete the key any more: still one payment.
    async with db.transaction() as conn:
        assert not await storage.complete_idempotency_key(
            conn, caller_id="u", key="k", lock_token=crashed.lock_token,
            response=retried.response, now=T0 + LOCK_TIMEOUT,
        )  # fmt: skip
    assert len(await _payment_ids(db)) == 1


@pytest.mark.anyio
async def test_reused_key_is_refused_even_while_the_first_is_in_flight(db: Database) -> None:
    fingerprint = request_fingerprint("POST", "/payments", b"10.00")
    await begin_idempotent_request(
        db, caller_id="u", key="k", fingerprint=fingerprint,
        now=T0, ttl=TTL, lock_timeout=LOCK_TIMEOUT,
    )  # fmt: skip
    with pytest.raises(IdempotencyKeyReused):
        await _accept(db, "k", T0, amount="99.00")


@pytest.mark.anyio
async def test_concurrent_requests_with_one_key_create_one_payment(db: Database) -> None:
    results = await asyncio.gather(
        *(_accept(db, "k", T0) for _ in range(20)), return_exceptions=True
    )
    accepted = [result for result in results if isinstance(result, AcceptedPayment)]
    conflicts = [result for result in results if isinstance(result, IdempotencyKeyInFlight)]
    assert len(accepted) + len(conflicts) == 20
    assert len([result for result in accepted if not result.replayed]) == 1
    assert len({result.response.body for result in accepted}) == 1
    assert len(await _payment_ids(db)) == 1
