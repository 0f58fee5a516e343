"""Every table of the payments service and every query on them (SQLite and PostgreSQL).

Functions take an open connection, so callers decide what commits together: a payment, its
outbox event and its idempotency record are always written in one transaction.

Work is claimed safely by several workers or replicas: on PostgreSQL with
``SELECT ... FOR UPDATE SKIP LOCKED``; on SQLite the caller's transaction is ``BEGIN IMMEDIATE``
(``Database.transaction``), which already serializes writers, and SQLAlchemy leaves the
``FOR UPDATE`` out. Every state change is a conditional UPDATE on who holds the claim, so a
worker that lost its claim changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.models import (
    ClaimedDelivery,
    DeliveryStatus,
    EventType,
    IdempotencyRecord,
    OutboxEvent,
    Payment,
    PaymentStatus,
    StoredResponse,
)
from servicekit.db import UTCDateTime
from servicekit.money import from_minor_units, to_minor_units
from servicekit.prepared import PreparedWrite

metadata = sa.MetaData()

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("payer_id", sa.String(255), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("payment_method", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("failure_code", sa.String(64), nullable=True),
    sa.Column("failure_message", sa.Text, nullable=True),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("processing_started_at", UTCDateTime, nullable=True),
    sa.Column("completed_at", UTCDateTime, nullable=True),
    # Which worker holds the payment while it is `processing`, and until when.
    sa.Column("lease_token", sa.String(36), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("processing_attempts", sa.Integer, nullable=False, server_default="0"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("caller_id", sa.String(255), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("lock_token", sa.String(36), nullable=True),
    sa.Column("locked_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("completed_at", UTCDateTime, nullable=True),
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("response_body", sa.Text, nullable=True),
    sa.Column("response_headers", sa.Text, nullable=True),
)

outbox_events = sa.Table(
    "outbox_events",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("payment_id", sa.String(36), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

outbox_deliveries = sa.Table(
    "outbox_deliveries",
    metadata,
    sa.Column(
        "event_id",
        sa.String(36),
        sa.ForeignKey("outbox_events.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("subscriber", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("claim_token", sa.String(36), nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
)


# -- payments ---------------------------------------------------------------------------------


def _payment(row: Row[Any]) -> Payment:
    return Payment(
        id=row.id,
        payer_id=row.payer_id,
        amount=from_minor_units(row.amount_minor, row.currency),
        currency=row.currency,
        description=row.description,
        payment_method=row.payment_method,
        status=PaymentStatus(row.status),
        failure_code=row.failure_code,
        failure_message=row.failure_message,
        idempotency_key=row.idempotency_key,
        request_id=row.request_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        processing_started_at=row.processing_started_at,
        completed_at=row.completed_at,
    )


_PAYMENT_COLUMNS = (
    "id", "payer_id", "amount_minor", "currency", "description", "payment_method", "status",
    "failure_code", "failure_message", "idempotency_key", "request_id", "created_at",
    "updated_at", "processing_started_at", "completed_at",
)  # fmt: skip
# Compiled once per dialect: every accepted payment runs these (see servicekit.prepared).
_INSERT_PAYMENT = PreparedWrite(payments.insert(), _PAYMENT_COLUMNS)
_INSERT_EVENT = PreparedWrite(
    outbox_events.insert(),
    ("id", "type", "payment_id", "payload", "request_id", "created_at"),
)
_INSERT_DELIVERIES = PreparedWrite(
    outbox_deliveries.insert(),
    ("event_id", "subscriber", "status", "attempts", "next_attempt_at", "created_at"),
)


async def insert_payment(conn: AsyncConnection, payment: Payment) -> None:
    """Store a new payment."""
    await _INSERT_PAYMENT.execute(
        conn,
        {
            "id": payment.id,
            "payer_id": payment.payer_id,
            "amount_minor": to_minor_units(payment.amount, payment.currency),
            "currency": payment.currency,
            "description": payment.description,
            "payment_method": payment.payment_method,
            "status": payment.status.value,
            "failure_code": payment.failure_code,
            "failure_message": payment.failure_message,
            "idempotency_key": payment.idempotency_key,
            "request_id": payment.request_id,
            "created_at": payment.created_at,
            "updated_at": payment.updated_at,
            "processing_started_at": payment.processing_started_at,
            "completed_at": payment.completed_at,
        },
    )


async def get_payment(conn: AsyncConnection, payment_id: str) -> Payment | None:
    """The payment with this id, or None."""
    row = (await conn.execute(payments.select().where(payments.c.id == payment_id))).first()
    return _payment(row) if row else None


async def list_payments(
    conn: AsyncConnection,
    payer_id: str,
    *,
    limit: int,
    status: PaymentStatus | None = None,
    before: tuple[datetime, str] | None = None,
) -> list[Payment]:
    """A payer's payments, newest first, strictly older than ``before`` (created_at, id)."""
    query = payments.select().where(payments.c.payer_id == payer_id)
    if status is not None:
        query = query.where(payments.c.status == status.value)
    if before is not None:
        created_at, payment_id = before
        query = query.where(
            sa.or_(
                payments.c.created_at < created_at,
                sa.and_(payments.c.created_at == created_at, payments.c.id < payment_id),
            )
        )
    query = query.order_by(payments.c.created_at.desc(), payments.c.id.desc()).limit(limit)
    return [_payment(row) for row in await conn.execute(query)]


def _oldest_claimable(*conditions: sa.ColumnElement[bool]) -> sa.Select[Any]:
    # Each is one range of ix_payments_status_created read in order, so a claim costs the
    # same however long the queue: an OR of the two ranges had to sort every match first.
    return (
        sa.select(payments.c.id)
        .where(*conditions)
        .order_by(payments.c.created_at)
        .limit(sa.bindparam("limit"))
        .with_for_update(skip_locked=True)
    )


_EXPIRED_LEASES = _oldest_claimable(
    payments.c.status == PaymentStatus.PROCESSING.value,
    payments.c.lease_expires_at <= sa.bindparam("now", type_=UTCDateTime),
)
_ACCEPTED = _oldest_claimable(payments.c.status == PaymentStatus.ACCEPTED.value)


async def claim_payments_for_processing(
    conn: AsyncConnection, *, lease_token: str, now: datetime, lease_until: datetime, limit: int
) -> list[Payment]:
    """Move up to ``limit`` payments to `processing` under this worker's lease.

    Takes payments whose worker's lease ran out (it crashed mid-way) first, then accepted
    payments, oldest first. Rows another worker is claiming right now are skipped, not
    waited for.
    """
    ids = list((await conn.execute(_EXPIRED_LEASES, {"now": now, "limit": limit})).scalars())
    if len(ids) < limit:
        accepted = await conn.execute(_ACCEPTED, {"limit": limit - len(ids)})
        ids.extend(accepted.scalars())
    if not ids:
        return []
    claimed = await conn.execute(
        _CLAIM, {"ids": ids, "new_lease": lease_token, "lease_until": lease_until, "now": now}
    )
    return sorted((_payment(row) for row in claimed), key=lambda payment: payment.created_at)


_CLAIM_TIME = sa.bindparam("now", type_=UTCDateTime)
# A worker reads its clock before its claim sees the payments, and a payment accepted in
# between is newer than that reading: its claim is dated no earlier than its creation.
_CLAIMED_AT = sa.case(
    (payments.c.created_at > _CLAIM_TIME, payments.c.created_at), else_=_CLAIM_TIME
)
# By primary key only. The rows cannot have changed since the SELECT above: its FOR UPDATE
# locks them on PostgreSQL, and SQLite's write lock is held for the whole transaction.
# (Checking their status again here made SQLite read the status index instead: an OR of
# both claimable states, every queued payment on each claim.)
_CLAIM = (
    payments.update()
    .where(payments.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(
        status=PaymentStatus.PROCESSING.value,
        lease_token=sa.bindparam("new_lease"),
        lease_expires_at=sa.bindparam("lease_until", type_=UTCDateTime),
        updated_at=_CLAIMED_AT,
        processing_started_at=sa.func.coalesce(payments.c.processing_started_at, _CLAIMED_AT),
        processing_attempts=payments.c.processing_attempts + 1,
    )
    .returning(*payments.c)
)


# Built once (see servicekit.prepared): the worker finishes every payment with it.
_FINISH = PreparedWrite(
    payments.update()
    .where(
        payments.c.id == sa.bindparam("payment_id"),
        payments.c.status == PaymentStatus.PROCESSING.value,
        payments.c.lease_token == sa.bindparam("held_lease"),
    )
    .values(
        status=sa.bindparam("final_status", type_=sa.String),
        failure_code=sa.bindparam("final_failure_code", type_=sa.String),
        failure_message=sa.bindparam("final_failure_message", type_=sa.Text),
        updated_at=sa.bindparam("now", type_=UTCDateTime),
        completed_at=sa.bindparam("now", type_=UTCDateTime),
        lease_token=None,
        lease_expires_at=None,
    )
)


async def finish_payment(
    conn: AsyncConnection,
    payment: Payment,
    *,
    lease_token: str,
    status: PaymentStatus,
    failure_code: str | None,
    failure_message: str | None,
    now: datetime,
) -> Payment | None:
    """Record the final state of ``payment`` (as claimed), if this worker still holds it.

    The finished payment, or None if the lease was lost. Nothing else changes a payment
    while its lease is held, so the claimed one with its final fields is what is stored.
    """
    finished = await _FINISH.execute(
        conn,
        {
            "payment_id": payment.id,
            "held_lease": lease_token,
            "final_status": status.value,
            "final_failure_code": failure_code,
            "final_failure_message": failure_message,
            "now": now,
        },
    )
    if not finished:
        return None
    return dataclasses.replace(
        payment,
        status=status,
        failure_code=failure_code,
        failure_message=failure_message,
        updated_at=now,
        completed_at=now,
    )


async def expire_leases(conn: AsyncConnection, lease_tokens: list[str], now: datetime) -> int:
    """End these leases now, so that any worker may claim their payments at once."""
    if not lease_tokens:
        return 0
    result = await conn.execute(
        payments.update()
        .where(
            payments.c.lease_token.in_(lease_tokens),
            payments.c.status == PaymentStatus.PROCESSING.value,
        )
        .values(lease_expires_at=now)
    )
    return int(result.rowcount)


# -- idempotency keys -------------------------------------------------------------------------


def _idempotency_record(row: Row[Any]) -> IdempotencyRecord:
    response = None
    if row.completed_at is not None:
        response = StoredResponse(
            status_code=row.response_status,
            body=row.response_body,
            headers=json.loads(row.response_headers),
        )
    return IdempotencyRecord(
        caller_id=row.caller_id,
        key=row.key,
        fingerprint=row.fingerprint,
        lock_token=row.lock_token,
        locked_at=row.locked_at,
        created_at=row.created_at,
        response=response,
    )


_KEY_COLUMNS = [column.key for column in idempotency_keys.columns]
# Every accepted payment runs this (see servicekit.prepared).
_INSERT_IDEMPOTENCY_KEY = {
    "postgresql": PreparedWrite(
        postgresql.insert(idempotency_keys).on_conflict_do_nothing(), _KEY_COLUMNS
    ),
    "sqlite": PreparedWrite(sqlite.insert(idempotency_keys).on_conflict_do_nothing(), _KEY_COLUMNS),
}


def _key_is(caller_id: str, key: str) -> sa.ColumnElement[bool]:
    return sa.and_(idempotency_keys.c.caller_id == caller_id, idempotency_keys.c.key == key)


async def insert_idempotency_key(
    conn: AsyncConnection,
    *,
    caller_id: str,
    key: str,
    fingerprint: str,
    lock_token: str,
    now: datetime,
    response: StoredResponse | None = None,
) -> bool:
    """Record a key; False (and nothing written) if the caller already used it.

    Without ``response`` the key is in flight until ``complete_idempotency_key``. With it, the
    key is stored completed at once: for a caller committing its effects in this transaction.
    """
    values: dict[str, Any] = {
        "caller_id": caller_id,
        "key": key,
        "fingerprint": fingerprint,
        "lock_token": lock_token,
        "locked_at": now,
        "created_at": now,
        "completed_at": None,
        "response_status": None,
        "response_body": None,
        "response_headers": None,
    }
    if response is not None:
        values.update(
            completed_at=now,
            response_status=response.status_code,
            response_body=response.body,
            response_headers=json.dumps(response.headers),
        )
    inserted = await _INSERT_IDEMPOTENCY_KEY[conn.dialect.name].execute(conn, values)
    return inserted == 1


async def get_idempotency_key(
    conn: AsyncConnection, caller_id: str, key: str
) -> IdempotencyRecord | None:
    """What is stored for this caller's key, or None."""
    query = idempotency_keys.select().where(_key_is(caller_id, key))
    row = (await conn.execute(query)).first()
    return _idempotency_record(row) if row else None


async def restart_idempotency_key(
    conn: AsyncConnection,
    record: IdempotencyRecord,
    *,
    fingerprint: str,
    lock_token: str,
    now: datetime,
) -> bool:
    """Start an expired key afresh for a new request; False if someone else changed it first."""
    result = await conn.execute(
        idempotency_keys.update()
        .where(
            _key_is(record.caller_id, record.key),
            idempotency_keys.c.created_at == record.created_at,
        )
        .values(
            fingerprint=fingerprint,
            lock_token=lock_token,
            locked_at=now,
            created_at=now,
            completed_at=None,
            response_status=None,
            response_body=None,
            response_headers=None,
        )
    )
    return bool(result.rowcount == 1)


async def take_over_idempotency_key(
    conn: AsyncConnection, record: IdempotencyRecord, *, lock_token: str, now: datetime
) -> bool:
    """Move an abandoned in-flight key to a new request; False if it is no longer abandoned."""
    result = await conn.execute(
        idempotency_keys.update()
        .where(
            _key_is(record.caller_id, record.key),
            idempotency_keys.c.lock_token == record.lock_token,
            idempotency_keys.c.completed_at.is_(None),
        )
        .values(lock_token=lock_token, locked_at=now)
    )
    return bool(result.rowcount == 1)


async def complete_idempotency_key(
    conn: AsyncConnection,
    *,
    caller_id: str,
    key: str,
    lock_token: str,
    response: StoredResponse,
    now: datetime,
) -> bool:
    """Store the response of the request holding the key; False if it no longer holds it."""
    result = await conn.execute(
        idempotency_keys.update()
        .where(
            _key_is(caller_id, key),
            idempotency_keys.c.lock_token == lock_token,
            idempotency_keys.c.completed_at.is_(None),
        )
        .values(
            completed_at=now,
            response_status=response.status_code,
            response_body=response.body,
            response_headers=json.dumps(response.headers),
        )
    )
    return bool(result.rowcount == 1)


async def release_idempotency_key(
    conn: AsyncConnection, *, caller_id: str, key: str, lock_token: str
) -> None:
    """Forget an in-flight key whose request failed, so that a retry can run."""
    await conn.execute(
        idempotency_keys.delete().where(
            _key_is(caller_id, key),
            idempotency_keys.c.lock_token == lock_token,
            idempotency_keys.c.completed_at.is_(None),
        )
    )


async def delete_idempotency_keys_created_before(conn: AsyncConnection, cutoff: datetime) -> int:
    """Purge keys older than the retention time; how many were deleted."""
    result = await conn.execute(
        idempotency_keys.delete().where(idempotency_keys.c.created_at < cutoff)
    )
    return int(result.rowcount)


# -- outbox -----------------------------------------------------------------------------------


async def insert_events(
    conn: AsyncConnection, events: Sequence[tuple[OutboxEvent, Sequence[str]]]
) -> None:
    """Store events, each with one pending delivery per subscriber that wants it."""
    if not events:
        return
    await _INSERT_EVENT.execute_many(
        conn,
        [
            {
                "id": event.id,
                "type": event.type.value,
                "payment_id": event.payment_id,
                "payload": event.payload,
                "request_id": event.request_id,
                "created_at": event.created_at,
            }
            for event, _ in events
        ],
    )
    deliveries = [
        {
            "event_id": event.id,
            "subscriber": name,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": event.created_at,
            "created_at": event.created_at,
        }
        for event, subscribers in events
        for name in subscribers
    ]
    if deliveries:
        await _INSERT_DELIVERIES.execute_many(conn, deliveries)


def _event(row: Row[Any]) -> OutboxEvent:
    return OutboxEvent(
        id=row.id,
        type=EventType(row.type),
        payment_id=row.payment_id,
        payload=row.payload,
        request_id=row.request_id,
        created_at=row.created_at,
    )


async def events_of_payment(conn: AsyncConnection, payment_id: str) -> list[OutboxEvent]:
    """Every event a payment produced, oldest first."""
    query = (
        outbox_events.select()
        .where(outbox_events.c.payment_id == payment_id)
        .order_by(outbox_events.c.created_at, outbox_events.c.id)
    )
    return [_event(row) for row in await conn.execute(query)]


# The delivery a relay claimed, still pending: what every outcome of an attempt updates.
_CLAIMED_DELIVERY = sa.and_(
    outbox_deliveries.c.event_id == sa.bindparam("delivery_event_id"),
    outbox_deliveries.c.subscriber == sa.bindparam("delivery_subscriber"),
    outbox_deliveries.c.claim_token == sa.bindparam("delivery_claim_token"),
    outbox_deliveries.c.status == DeliveryStatus.PENDING.value,
)


def _claimed(delivery: ClaimedDelivery, **values: Any) -> dict[str, Any]:
    """``values`` for a statement on ``_CLAIMED_DELIVERY``, with the delivery's keys."""
    return {
        "delivery_event_id": delivery.event.id,
        "delivery_subscriber": delivery.subscriber,
        "delivery_claim_token": delivery.claim_token,
        **values,
    }


async def claim_deliveries(
    conn: AsyncConnection,
    subscriber: str,
    *,
    claim_token: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` due deliveries to one subscriber, oldest first.

    The claim is a lease: ``next_attempt_at`` moves to ``lease_until``, so if this relay dies
    before recording the outcome, another one delivers again after it (at-least-once).
    """
    due = sa.and_(
        outbox_deliveries.c.subscriber == subscriber,
        outbox_deliveries.c.status == DeliveryStatus.PENDING.value,
        outbox_deliveries.c.next_attempt_at <= now,
    )
    candidates = (
        sa.select(outbox_deliveries.c.event_id)
        .where(due)
        .order_by(outbox_deliveries.c.next_attempt_at, outbox_deliveries.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    event_ids = list((await conn.execute(candidates)).scalars())
    if not event_ids:
        return []
    # By primary key only: the rows cannot have changed since the SELECT (FOR UPDATE locks
    # them on PostgreSQL; SQLite's write lock is held for the whole transaction). With the
    # due conditions too, SQLite read every due delivery through their index on each claim.
    await conn.execute(
        outbox_deliveries.update()
        .where(
            outbox_deliveries.c.event_id.in_(event_ids),
            outbox_deliveries.c.subscriber == subscriber,
        )
        .values(claim_token=claim_token, next_attempt_at=lease_until)
    )
    claimed = (
        sa.select(outbox_events, outbox_deliveries.c.attempts)
        .join(outbox_deliveries, outbox_deliveries.c.event_id == outbox_events.c.id)
        .where(
            # By primary key: the claim token alone is no index, so SQLite read every
            # pending delivery (or the whole table) on each claim.
            outbox_deliveries.c.event_id.in_(event_ids),
            outbox_deliveries.c.subscriber == subscriber,
            outbox_deliveries.c.claim_token == claim_token,
            outbox_deliveries.c.status == DeliveryStatus.PENDING.value,
        )
        .order_by(outbox_events.c.created_at, outbox_events.c.id)
    )
    return [
        ClaimedDelivery(
            event=_event(row), subscriber=subscriber, attempts=row.attempts, claim_token=claim_token
        )
        for row in await conn.execute(claimed)
    ]


# Built once (see servicekit.prepared); marking one delivered runs per delivery, while the
# relay keeps up with a burst on the same core as the creates.
_MARK_DELIVERED = PreparedWrite(
    outbox_deliveries.update()
    .where(_CLAIMED_DELIVERY)
    .values(
        status=DeliveryStatus.DELIVERED.value,
        attempts=outbox_deliveries.c.attempts + 1,
        last_status_code=sa.bindparam("status_code", type_=sa.Integer),
        last_error=None,
        delivered_at=sa.bindparam("delivered_at", type_=UTCDateTime),
        claim_token=None,
    )
)
# What a failed attempt records, whether it is retried or given up on.
_FAILED_ATTEMPT: dict[str, Any] = {
    "attempts": outbox_deliveries.c.attempts + 1,
    "last_status_code": sa.bindparam("status_code", type_=sa.Integer),
    "last_error": sa.bindparam("error", type_=sa.Text),
    "claim_token": None,
}
_SCHEDULE_RETRY = PreparedWrite(
    outbox_deliveries.update()
    .where(_CLAIMED_DELIVERY)
    .values(next_attempt_at=sa.bindparam("retry_at", type_=UTCDateTime), **_FAILED_ATTEMPT)
)
_MARK_DEAD = PreparedWrite(
    outbox_deliveries.update()
    .where(_CLAIMED_DELIVERY)
    .values(status=DeliveryStatus.DEAD.value, **_FAILED_ATTEMPT)
)
_RELEASE_DELIVERY = PreparedWrite(
    outbox_deliveries.update()
    .where(_CLAIMED_DELIVERY)
    .values(next_attempt_at=sa.bindparam("retry_at", type_=UTCDateTime), claim_token=None)
)


async def mark_delivered(
    conn: AsyncConnection, delivery: ClaimedDelivery, *, status_code: int, now: datetime
) -> None:
    """The subscriber accepted the event."""
    await _MARK_DELIVERED.execute(
        conn, _claimed(delivery, status_code=status_code, delivered_at=now)
    )


async def schedule_retry(
    conn: AsyncConnection,
    delivery: ClaimedDelivery,
    *,
    next_attempt_at: datetime,
    status_code: int | None,
    error: str,
) -> None:
    """The attempt failed in a way worth retrying; try again at ``next_attempt_at``."""
    await _SCHEDULE_RETRY.execute(
        conn,
        _claimed(delivery, retry_at=next_attempt_at, status_code=status_code, error=error[:500]),
    )


async def mark_dead(
    conn: AsyncConnection, delivery: ClaimedDelivery, *, status_code: int | None, error: str
) -> None:
    """Give up on this delivery: the subscriber refused it for good, or attempts ran out."""
    await _MARK_DEAD.execute(conn, _claimed(delivery, status_code=status_code, error=error[:500]))


async def release_delivery(
    conn: AsyncConnection, delivery: ClaimedDelivery, *, next_attempt_at: datetime
) -> None:
    """Hand back a claimed delivery that was not attempted (its subscriber's circuit opened)."""
    await _RELEASE_DELIVERY.execute(conn, _claimed(delivery, retry_at=next_attempt_at))


async def delivery_statuses(conn: AsyncConnection, event_id: str) -> dict[str, DeliveryStatus]:
    """Each subscriber's delivery status for one event."""
    query = sa.select(outbox_deliveries.c.subscriber, outbox_deliveries.c.status).where(
        outbox_deliveries.c.event_id == event_id
    )
    return {row.subscriber: DeliveryStatus(row.status) for row in await conn.execute(query)}


async def outbox_backlog(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """How many deliveries are pending, and when the oldest of them was written."""
    query = sa.select(sa.func.count(), sa.func.min(outbox_deliveries.c.created_at)).where(
        outbox_deliveries.c.status == DeliveryStatus.PENDING.value
    )
    row = (await conn.execute(query)).one()
    oldest = row[1]
    if oldest is not None:
        # Aggregates lose the column type on SQLite; make sure the result is aware UTC.
        oldest = UTCDateTime().process_result_value(
            datetime.fromisoformat(oldest) if isinstance(oldest, str) else oldest, conn.dialect
        )
    return int(row[0]), oldest


async def delete_delivered_events_before(
    conn: AsyncConnection, cutoff: datetime, *, limit: int = 1000
) -> int:
    """Delete up to ``limit`` events older than ``cutoff`` that every subscriber has received.

    Events with a pending or dead delivery are kept: they still need delivering or a human.
    """
    unfinished = sa.select(outbox_deliveries.c.event_id).where(
        outbox_deliveries.c.event_id == outbox_events.c.id,
        outbox_deliveries.c.status != DeliveryStatus.DELIVERED.value,
    )
    doomed = (
        sa.select(outbox_events.c.id)
        .where(outbox_events.c.created_at < cutoff, ~sa.exists(unfinished))
        .limit(limit)
    )
    ids = list((await conn.execute(doomed)).scalars())
    if not ids:
        return 0
    # Deleted explicitly rather than by cascade: SQLite enforces it only with the pragma on.
    await conn.execute(outbox_deliveries.delete().where(outbox_deliveries.c.event_id.in_(ids)))
    await conn.execute(outbox_events.delete().where(outbox_events.c.id.in_(ids)))
    return len(ids)
