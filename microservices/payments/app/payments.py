"""Payment use cases: accept a payment idempotently, process it, read and list payments.

Every state change and its outbox event commit in one transaction, so an event exists if and
only if the change it reports happened, exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from app import metrics, storage
from app.idempotency import Replay, claim_key
from app.models import EventType, NewPayment, OutboxEvent, Payment, PaymentStatus, StoredResponse
from app.processor import Decision, SandboxProcessor
from app.schemas import PaymentOut
from app.settings import Subscriber
from servicekit.db import Database
from servicekit.pagination import decode_cursor, encode_cursor

logger = logging.getLogger("payments")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class LedgerCurrencyMismatch(ValueError):
    """The payment's currency is not the one the accounts ledger keeps (a 422)."""


def ensure_ledger_currency(currency: str, ledger_currency: str) -> None:
    """Refuse payments the ledger could not credit."""
    if currency != ledger_currency:
        raise LedgerCurrencyMismatch(
            f"payments in {currency} are not accepted; the ledger currency is {ledger_currency}"
        )


def build_event(
    event_type: EventType,
    payment: Payment,
    *,
    now: datetime,
    request_id: str | None,
    payment_json: str | None = None,
) -> OutboxEvent:
    """The event reporting ``payment``'s new state, with its exact JSON body.

    ``payment_json`` is the payment as the API shows it, when the caller has it already.
    """
    event_id = str(uuid.uuid4())
    if payment_json is None:
        payment_json = PaymentOut.from_payment(payment).model_dump_json()
    envelope = json.dumps(
        {"id": event_id, "type": event_type.value, "created_at": now.isoformat()},
        separators=(",", ":"),
    )
    return OutboxEvent(
        id=event_id,
        type=event_type,
        payment_id=payment.id,
        payload=f'{envelope[:-1]},"data":{payment_json}}}',
        request_id=request_id,
        created_at=now,
    )


async def record_event(
    conn: AsyncConnection,
    event_type: EventType,
    payment: Payment,
    *,
    subscribers: list[Subscriber],
    now: datetime,
    payment_json: str | None = None,
) -> OutboxEvent:
    """Write the event for ``payment``'s state change, in the caller's transaction."""
    event = build_event(
        event_type, payment, now=now, request_id=payment.request_id, payment_json=payment_json
    )
    await storage.insert_events(conn, [(event, _wanted_by(subscribers, event))])
    return event


async def record_final_events(
    conn: AsyncConnection, finished: list[Payment], *, subscribers: list[Subscriber], now: datetime
) -> None:
    """Write the succeeded or failed event of each finished payment, in the caller's
    transaction."""
    events = [
        build_event(
            EventType.SUCCEEDED if payment.status is PaymentStatus.SUCCEEDED else EventType.FAILED,
            payment,
            now=now,
            request_id=payment.request_id,
        )
        for payment in finished
    ]
    await storage.insert_events(conn, [(event, _wanted_by(subscribers, event)) for event in events])


def _wanted_by(subscribers: list[Subscriber], event: OutboxEvent) -> list[str]:
    return [subscriber.name for subscriber in subscribers if subscriber.wants(event.type)]


@dataclass(frozen=True, slots=True)
class AcceptedPayment:
    """The answer to a create request: the first response, or a replay of it."""

    response: StoredResponse
    replayed: bool


async def accept_payment(
    db: Database,
    new: NewPayment,
    *,
    payer_id: str,
    idempotency_key: str,
    fingerprint: str,
    location_base: str,
    subscribers: list[Subscriber],
    request_id: str | None,
    ttl: timedelta,
    lock_timeout: timedelta,
    now: datetime | None = None,
) -> AcceptedPayment:
    """Accept a payment for processing, once per (payer, idempotency key).

    One transaction claims the key with its response, stores the payment and its
    ``payment.accepted`` event: all of it commits, or none (so a failure leaves the key free
    for a retry). A retry of the same request gets that response back. Raises the
    idempotency errors.
    """
    now = now or utcnow()
    payment = _new_payment(new, payer_id, idempotency_key, request_id, now)
    response = StoredResponse(
        status_code=202,
        body=PaymentOut.from_payment(payment).model_dump_json(),
        headers={"Location": f"{location_base}/{payment.id}"},
    )
    async with db.transaction() as conn:
        outcome = await claim_key(
            conn,
            caller_id=payer_id,
            key=idempotency_key,
            fingerprint=fingerprint,
            now=now,
            ttl=ttl,
            lock_timeout=lock_timeout,
            response=response,
        )
        if isinstance(outcome, Replay):
            return AcceptedPayment(outcome.response, replayed=True)
        await storage.insert_payment(conn, payment)
        # The event shows the payment as the answer does: one serialisation for both.
        await record_event(
            conn,
            EventType.ACCEPTED,
            payment,
            subscribers=subscribers,
            now=now,
            payment_json=response.body,
        )
    metrics.PAYMENTS.labels(PaymentStatus.ACCEPTED.value).inc()
    return AcceptedPayment(response, replayed=False)


def _new_payment(
    new: NewPayment, payer_id: str, idempotency_key: str, request_id: str | None, now: datetime
) -> Payment:
    return Payment(
        id=str(uuid.uuid4()),
        payer_id=payer_id,
        amount=new.amount,
        currency=new.currency,
        description=new.description,
        payment_method=new.payment_method,
        status=PaymentStatus.ACCEPTED,
        failure_code=None,
        failure_message=None,
        idempotency_key=idempotency_key,
        request_id=request_id,
        created_at=now,
        updated_at=now,
        processing_started_at=None,
        completed_at=None,
    )


async def get_visible_payment(
    db: Database, payment_id: str, *, caller_id: str, is_admin: bool
) -> Payment | None:
    """The payment, if the caller may see it (its payer, or an admin); None otherwise."""
    async with db.read() as conn:
        payment = await storage.get_payment(conn, payment_id)
    if payment is None or not (is_admin or payment.payer_id == caller_id):
        return None
    return payment


async def list_caller_payments(
    db: Database,
    payer_id: str,
    *,
    limit: int,
    status: PaymentStatus | None = None,
    cursor: str | None = None,
) -> tuple[list[Payment], str | None]:
    """A page of the payer's payments, newest first, and the cursor of the next page."""
    before = decode_cursor(cursor) if cursor else None
    async with db.read() as conn:
        rows = await storage.list_payments(
            conn, payer_id, limit=limit + 1, status=status, before=before
        )
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return page, next_cursor


class PaymentWorker:
    """Moves accepted payments through the processor to their final state.

    Safe with several workers and replicas: each claims a batch under a lease; a payment
    whose worker died in `processing` is claimed again when the lease runs out. The final
    state and its event are written only by the worker still holding the lease, in one
    transaction, so a payment reaches a final state once and produces one final event.
    """

    def __init__(
        self,
        db: Database,
        processor: SandboxProcessor,
        *,
        subscribers: list[Subscriber],
        lease: timedelta,
        batch_size: int,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.processor = processor
        self.subscribers = subscribers
        self.lease = lease
        self.batch_size = batch_size
        self.clock = clock
        self._held_leases: set[str] = set()

    async def process_due_payments(self) -> int:
        """Claim and process one batch; how many payments were claimed."""
        lease_token = str(uuid.uuid4())
        self._held_leases.add(lease_token)
        try:
            claimed = await self._process_batch(lease_token)
        except asyncio.CancelledError:
            # Interrupted (shut-down): the lease stays listed for release_leases().
            raise
        except Exception:
            self._held_leases.discard(lease_token)
            raise
        self._held_leases.discard(lease_token)
        return claimed

    async def release_leases(self) -> int:
        """Hand back the payments this worker holds (at shut-down), so that another worker
        or the next start takes them at once instead of after the lease; how many."""
        async with self.db.transaction() as conn:
            return await storage.expire_leases(conn, sorted(self._held_leases), self.clock())

    async def _process_batch(self, lease_token: str) -> int:
        now = self.clock()
        async with self.db.transaction() as conn:
            claimed = await storage.claim_payments_for_processing(
                conn,
                lease_token=lease_token,
                now=now,
                lease_until=now + self.lease,
                limit=self.batch_size,
            )
        if not claimed:
            return 0
        metrics.PAYMENTS.labels(PaymentStatus.PROCESSING.value).inc(len(claimed))
        # Charged concurrently, so that the whole batch finishes well within one lease.
        decisions = await asyncio.gather(
            *(self.processor.charge(payment) for payment in claimed), return_exceptions=True
        )
        charged: list[tuple[Payment, Decision]] = []
        for payment, decision in zip(claimed, decisions, strict=True):
            if isinstance(decision, BaseException):
                # The lease runs out and the payment is picked up again.
                logger.error(
                    "payment processing failed",
                    extra={"payment_id": payment.id, "error": repr(decision)},
                )
            else:
                charged.append((payment, decision))
        if not charged:
            return len(claimed)
        now = self.clock()
        # One transaction for the batch's final states and their events. Should it fail, the
        # leases run out and the batch is processed again (the charges are idempotent).
        async with self.db.transaction() as conn:
            finished = [
                done
                for payment, decision in charged
                if (done := await self._finish(conn, payment, decision, lease_token, now))
            ]
            await record_final_events(conn, finished, subscribers=self.subscribers, now=now)
        for done in finished:
            metrics.PAYMENTS.labels(done.status.value).inc()
            metrics.PROCESSING_SECONDS.labels(done.status.value).observe(
                (now - done.created_at).total_seconds()
            )
            logger.info(
                "payment processed", extra={"payment_id": done.id, "status": done.status.value}
            )
        return len(claimed)

    async def _finish(
        self,
        conn: AsyncConnection,
        payment: Payment,
        decision: Decision,
        lease_token: str,
        now: datetime,
    ) -> Payment | None:
        """Record the final state, if this worker still holds the lease."""
        finished = await storage.finish_payment(
            conn,
            payment,
            lease_token=lease_token,
            status=decision.status,
            failure_code=decision.failure_code,
            failure_message=decision.failure_message,
            now=now,
        )
        if finished is None:
            logger.warning(
                "payment lease lost; another worker finishes it",
                extra={"payment_id": payment.id},
            )
        return finished
