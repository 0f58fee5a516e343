"""The worker: accepted -> processing -> succeeded | failed, once, even across crashes."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app import storage
from app.models import EventType, NewPayment, PaymentStatus
from app.payments import PaymentWorker, accept_payment
from app.processor import SandboxProcessor
from app.schemas import PaymentOut
from app.settings import Subscriber
from servicekit.db import Database
from tests.support import query_plan, statements_starting

pytestmark = pytest.mark.anyio

SUBSCRIBERS = [Subscriber(name="accounts", url="http://accounts.test/events", secret="s")]
LEASE = timedelta(seconds=30)
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _accept(db: Database, method: str = "pm_card_visa", amount: str = "10.00") -> str:
    accepted = await accept_payment(
        db,
        NewPayment(Decimal(amount), "USD", None, method),
        payer_id="payer",
        idempotency_key=str(uuid.uuid4()),
        fingerprint="f",
        location_base="/payments",
        subscribers=SUBSCRIBERS,
        request_id="req-1",
        ttl=timedelta(hours=24),
        lock_timeout=timedelta(seconds=60),
        now=T0,
    )
    payment_id: str = json.loads(accepted.response.body)["payment_id"]
    return payment_id


def _worker(db: Database, clock: FakeClock, batch_size: int = 10) -> PaymentWorker:
    return PaymentWorker(
        db, SandboxProcessor(), subscribers=SUBSCRIBERS, lease=LEASE,
        batch_size=batch_size, clock=clock,
    )  # fmt: skip


async def _event_types(db: Database, payment_id: str) -> list[EventType]:
    async with db.read() as conn:
        return [event.type for event in await storage.events_of_payment(conn, payment_id)]


async def _status(db: Database, payment_id: str) -> PaymentStatus:
    async with db.read() as conn:
        payment = await storage.get_payment(conn, payment_id)
    assert payment is not None
    return payment.status


async def test_accepted_payment_succeeds_with_one_event_per_state_change(db: Database) -> None:
    payment_id = await _accept(db)
    clock = FakeClock(T0 + timedelta(seconds=1))
    assert await _worker(db, clock).process_due_payments() == 1
    async with db.read() as conn:
        payment = await storage.get_payment(conn, payment_id)
        [accepted, succeeded] = await storage.events_of_payment(conn, payment_id)
    assert payment is not None
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.processing_started_at == payment.completed_at == clock.now
    assert (accepted.type, succeeded.type) == (EventType.ACCEPTED, EventType.SUCCEEDED)
    body = json.loads(succeeded.payload)
    assert body["id"] == succeeded.id
    assert body["type"] == "payment.succeeded"
    assert body["data"]["user_id"] == "payer"
    assert body["data"]["amount"] == "10.00"
    # The event carries the request id of the request that created the payment.
    assert succeeded.request_id == "req-1"
    assert await _worker(db, clock).process_due_payments() == 0


async def test_the_accepted_event_shows_the_payment_as_the_answer_did(db: Database) -> None:
    accepted = await accept_payment(
        db,
        NewPayment(Decimal("3.50"), "USD", 'caf\u00e9 "quoted"\n\u2028', "pm_card_visa"),
        payer_id="payer", idempotency_key="k", fingerprint="f", location_base="/payments",
        subscribers=SUBSCRIBERS, request_id="req-1", ttl=timedelta(hours=24),
        lock_timeout=timedelta(seconds=60), now=T0,
    )  # fmt: skip
    answer = json.loads(accepted.response.body)
    async with db.read() as conn:
        [event] = await storage.events_of_payment(conn, answer["payment_id"])
    assert json.loads(event.payload) == {
        "id": event.id,
        "type": "payment.accepted",
        "created_at": T0.isoformat(),
        "data": answer,
    }
    assert answer["description"] == 'caf\u00e9 "quoted"\n\u2028'


@pytest.mark.parametrize("method", ["pm_card_visa", "pm_card_chargeDeclined"])
async def test_the_final_event_shows_the_payment_as_it_is_stored(db: Database, method: str) -> None:
    payment_id = await _accept(db, method=method)
    await _worker(db, FakeClock(T0 + timedelta(seconds=1))).process_due_payments()
    async with db.read() as conn:
        stored = await storage.get_payment(conn, payment_id)
        [_, final] = await storage.events_of_payment(conn, payment_id)
    assert stored is not None
    assert json.loads(final.payload)["data"] == json.loads(
        PaymentOut.from_payment(stored).model_dump_json()
    )


async def test_declined_payment_fails_with_its_code(db: Database) -> None:
    payment_id = await _accept(db, method="pm_card_chargeDeclined")
    await _worker(db, FakeClock(T0 + timedelta(seconds=1))).process_due_payments()
    async with db.read() as conn:
        payment = await storage.get_payment(conn, payment_id)
    assert payment is not None
    assert (payment.status, payment.failure_code) == (PaymentStatus.FAILED, "card_declined")
    assert await _event_types(db, payment_id) == [EventType.ACCEPTED, EventType.FAILED]


async def test_payment_left_processing_by_a_crash_is_finished_once_after_the_lease(
    db: Database,
) -> None:
    payment_id = await _accept(db)
    # A worker claims the payment and dies before finishing it.
    async with db.transaction() as conn:
        [claimed] = await storage.claim_payments_for_processing(
            conn, lease_token="dead-worker", now=T0, lease_until=T0 + LEASE, limit=10
        )
    assert claimed.status is PaymentStatus.PROCESSING

    clock = FakeClock(T0 + LEASE - timedelta(seconds=1))
    assert await _worker(db, clock).process_due_payments() == 0  # the lease still holds
    clock.now = T0 + LEASE + timedelta(seconds=1)
    assert await _worker(db, clock).process_due_payments() == 1
    assert await _status(db, payment_id) is PaymentStatus.SUCCEEDED

    # The dead worker coming back to life cannot finish it a second time.
    async with db.transaction() as conn:
        late = await storage.finish_payment(
            conn, claimed, lease_token="dead-worker", status=PaymentStatus.FAILED,
            failure_code="x", failure_message="x", now=clock.now,
        )  # fmt: skip
    assert late is None
    assert await _status(db, payment_id) is PaymentStatus.SUCCEEDED
    assert await _event_types(db, payment_id) == [EventType.ACCEPTED, EventType.SUCCEEDED]


async def test_competing_workers_process_every_payment_exactly_once(db: Database) -> None:
    payment_ids = [await _accept(db) for _ in range(12)]
    clock = FakeClock(T0 + timedelta(seconds=1))
    workers = [_worker(db, clock, batch_size=3) for _ in range(3)]

    async def drain(worker: PaymentWorker) -> None:
        for _ in range(20):
            await worker.process_due_payments()

    await asyncio.gather(*(drain(worker) for worker in workers))
    for payment_id in payment_ids:
        assert await _status(db, payment_id) is PaymentStatus.SUCCEEDED
        assert await _event_types(db, payment_id) == [EventType.ACCEPTED, EventType.SUCCEEDED]


async def test_worker_whose_lease_was_taken_over_cannot_finish_the_payment(db: Database) -> None:
    payment_id = await _accept(db)
    later = T0 + LEASE + timedelta(seconds=1)
    async with db.transaction() as conn:
        [slow_claim] = await storage.claim_payments_for_processing(
            conn, lease_token="slow", now=T0, lease_until=T0 + LEASE, limit=10
        )
        # The slow worker's lease ran out; another worker has the payment now.
        [taken_over] = await storage.claim_payments_for_processing(
            conn, lease_token="fresh", now=later, lease_until=later + LEASE, limit=10
        )
    assert taken_over.id == payment_id
    async with db.transaction() as conn:
        late = await storage.finish_payment(
            conn, slow_claim, lease_token="slow", status=PaymentStatus.FAILED,
            failure_code="x", failure_message="x", now=later,
        )  # fmt: skip
    assert late is None
    assert await _status(db, payment_id) is PaymentStatus.PROCESSING


async def test_worker_stopped_mid_batch_hands_its_payments_back_at_once(db: Database) -> None:
    payment_id = await _accept(db)
    clock = FakeClock(T0 + timedelta(seconds=1))
    stopping = PaymentWorker(
        db, SandboxProcessor(delay_seconds=30), subscribers=SUBSCRIBERS, lease=LEASE,
        batch_size=10, clock=clock,
    )  # fmt: skip
    batch = asyncio.create_task(stopping.process_due_payments())
    for _ in range(500):
        if await _status(db, payment_id) is PaymentStatus.PROCESSING:
            break
        await asyncio.sleep(0.01)
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert await stopping.release_leases() == 1
    # No waiting for the lease: the next worker finishes it right away.
    assert await _worker(db, clock).process_due_payments() == 1
    assert await _status(db, payment_id) is PaymentStatus.SUCCEEDED


async def test_a_payment_accepted_after_the_worker_read_its_clock_is_not_started_before_it(
    db: Database,
) -> None:
    # The worker reads its clock, then its claim sees a payment accepted in between.
    payment_id = await _accept(db)  # created at T0
    earlier = T0 - timedelta(milliseconds=18)
    async with db.transaction() as conn:
        [claimed] = await storage.claim_payments_for_processing(
            conn, lease_token="w", now=earlier, lease_until=earlier + LEASE, limit=10
        )
    assert claimed.id == payment_id
    assert claimed.processing_started_at == claimed.updated_at == claimed.created_at == T0


async def test_a_claim_takes_expired_leases_first_then_the_oldest_accepted(db: Database) -> None:
    stuck, first, second, third = [await _accept(db) for _ in range(4)]
    async with db.transaction() as conn:
        await conn.execute(
            storage.payments.update()
            .where(storage.payments.c.id == stuck)
            .values(status=PaymentStatus.PROCESSING.value, lease_token="dead", lease_expires_at=T0)
        )
    later = T0 + timedelta(seconds=1)
    async with db.transaction() as conn:
        claimed = await storage.claim_payments_for_processing(
            conn, lease_token="w", now=later, lease_until=later + LEASE, limit=3
        )
    assert {payment.id for payment in claimed} == {stuck, first, second}
    assert await _status(db, third) is PaymentStatus.ACCEPTED


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_claim_reads_the_queue_in_index_order_however_long_it_is(db: Database) -> None:
    # An OR of the two claimable states made SQLite sort every accepted payment on each
    # claim: the longer the queue, the slower the worker that should shorten it.
    for statement in (storage._ACCEPTED, storage._EXPIRED_LEASES):
        sql = str(statement.compile(dialect=db.engine.dialect))
        # The plan does not depend on the values: any will do for the placeholders.
        details = await query_plan(db, sql, (None,) * sql.count("?"))
        assert "USING INDEX ix_payments_status_created" in details
        assert "TEMP B-TREE" not in details


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_claiming_a_batch_finds_its_payments_by_id_however_long_the_queue(
    db: Database,
) -> None:
    # When it also checked each row's status, SQLite read every queued payment through the
    # status index for a batch of ten (5.7 ms with 11,000 queued, on each claim).
    for _ in range(10):
        await _accept(db)
    with statements_starting("UPDATE payments") as updates:
        async with db.transaction() as conn:
            claimed = await storage.claim_payments_for_processing(
                conn, lease_token="w", now=T0, lease_until=T0 + LEASE, limit=10
            )
    assert len(claimed) == 10
    [(sql, parameters)] = updates
    details = await query_plan(db, sql, parameters)
    assert "INDEX sqlite_autoindex_payments_1 (id=?)" in details
    assert "ix_payments_status_created" not in details
