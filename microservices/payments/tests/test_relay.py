"""The relay: signed, retried, at-least-once deliveries, and a breaker per subscriber."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa

from app import metrics, storage
from app.background import Housekeeper
from app.models import DeliveryStatus, NewPayment
from app.payments import accept_payment
from app.relay import CircuitBreaker, DeliveryOutcome, EventRelay, classify_response, retry_delay
from app.settings import Subscriber
from servicekit.db import Database
from servicekit.signing import SIGNATURE_HEADER, verify_signature
from tests.support import FakeSubscriber, query_plan, statements_starting

SECRET = "per-subscriber-secret"
ACCOUNTS = Subscriber(name="accounts", url="http://accounts.test/internal/events", secret=SECRET)
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.anyio


class Clocks:
    """The relay's wall clock and the breakers' monotonic clock, moved together by hand."""

    def __init__(self) -> None:
        self.now = T0
        self.seconds = 1000.0

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.seconds += seconds

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.seconds


# -- pure rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_code", "outcome"),
    [
        (200, DeliveryOutcome.DELIVERED),
        (204, DeliveryOutcome.DELIVERED),
        (500, DeliveryOutcome.RETRY),
        (503, DeliveryOutcome.RETRY),
        (408, DeliveryOutcome.RETRY),
        (429, DeliveryOutcome.RETRY),
        (400, DeliveryOutcome.DEAD),
        (401, DeliveryOutcome.DEAD),
        (404, DeliveryOutcome.DEAD),
        (422, DeliveryOutcome.DEAD),
    ],
)
def test_responses_are_classified(status_code: int, outcome: DeliveryOutcome) -> None:
    assert classify_response(status_code) is outcome


def test_retry_delay_doubles_up_to_the_cap_with_jitter() -> None:
    lowest = [retry_delay(n, base=1, cap=60, rng=lambda: 0.0) for n in range(1, 9)]
    highest = [retry_delay(n, base=1, cap=60, rng=lambda: 1.0) for n in range(1, 9)]
    assert highest == [1, 2, 4, 8, 16, 32, 60, 60]
    assert lowest == [delay / 2 for delay in highest]
    assert retry_delay(10_000, base=1, cap=60, rng=lambda: 1.0) == 60


def test_breaker_opens_after_repeated_failures_and_closes_after_a_good_trial() -> None:
    clocks = Clocks()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_seconds=10, clock=clocks.monotonic)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.allows_calls()
    breaker.record_failure()
    assert breaker.is_open
    assert not breaker.allows_calls()
    clocks.advance(10)
    assert breaker.is_half_open
    assert breaker.allows_calls()
    breaker.record_failure()  # the trial failed: open for another cool-down
    assert breaker.is_open
    clocks.advance(10)
    breaker.record_success()
    assert breaker.allows_calls()
    assert not breaker.is_half_open


# -- the relay against a fake subscriber ------------------------------------------------------


@pytest.fixture
def subscriber() -> FakeSubscriber:
    return FakeSubscriber(secret=SECRET)


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def _relay(
    db: Database,
    subscriber: FakeSubscriber,
    clocks: Clocks,
    transport: httpx.AsyncBaseTransport,
    *,
    max_attempts: int = 10,
    concurrency: int = 4,
    subscribers: list[Subscriber] | None = None,
) -> EventRelay:
    return EventRelay(
        db,
        subscribers or [ACCOUNTS],
        transport=transport,
        batch_size=10,
        concurrency=concurrency,
        timeout_seconds=1,
        retry_base_seconds=1,
        retry_max_seconds=60,
        max_attempts=max_attempts,
        breaker_failure_threshold=3,
        breaker_cooldown_seconds=30,
        clock=clocks.wall,
        monotonic=clocks.monotonic,
        rng=lambda: 1.0,
    )


async def _write_event(
    db: Database, subscribers: list[Subscriber] | None = None, now: datetime = T0
) -> str:
    """A payment.accepted event in the outbox; returns the event id."""
    accepted = await accept_payment(
        db,
        NewPayment(Decimal("1.00"), "USD", None, "pm_card_visa"),
        payer_id="payer",
        idempotency_key=str(uuid.uuid4()),
        fingerprint="f",
        location_base="/payments",
        subscribers=subscribers or [ACCOUNTS],
        request_id="trace-123",
        ttl=timedelta(hours=1),
        lock_timeout=timedelta(seconds=60),
        now=now,
    )
    payment_id = json.loads(accepted.response.body)["payment_id"]
    async with db.read() as conn:
        [event] = await storage.events_of_payment(conn, payment_id)
    return event.id


async def _delivery_status(db: Database, event_id: str) -> DeliveryStatus:
    async with db.read() as conn:
        return (await storage.delivery_statuses(conn, event_id))["accounts"]


async def test_event_is_delivered_signed_with_the_request_id(
    db: Database,
    subscriber: FakeSubscriber,
    clocks: Clocks,
) -> None:
    event_id = await _write_event(db)
    async with subscriber.transport as transport:
        relay = _relay(db, subscriber, clocks, transport)
        assert await relay.deliver_due_events() == 1
        assert await relay.deliver_due_events() == 0
    [request] = subscriber.received
    verify_signature(SECRET, request.content, request.headers[SIGNATURE_HEADER])
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Request-ID"] == "trace-123"
    body = json.loads(request.content)
    assert body["id"] == event_id
    assert body["type"] == "payment.accepted"
    assert await _delivery_status(db, event_id) is DeliveryStatus.DELIVERED


async def test_deliveries_to_a_subscriber_that_answers_go_several_at_a_time(
    db: Database, subscriber: FakeSubscriber, clocks: Clocks
) -> None:
    event_ids = [await _write_event(db) for _ in range(9)]
    in_flight: list[int] = []
    # How many were in flight as each delivery arrived.
    arrivals: list[int] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        arrivals.append(len(in_flight))
        in_flight.append(len(in_flight) + 1)
        await asyncio.sleep(0.01)  # the subscriber takes a while to answer
        in_flight.pop()
        return subscriber.handle(request)

    async with httpx.MockTransport(handle) as transport:
        relay = _relay(db, subscriber, clocks, transport)
        assert await relay.deliver_due_events() == 9
        # Not heard from yet: the first one alone, then as many at once as the concurrency.
        assert arrivals[:2] == [0, 0]
        assert max(arrivals) + 1 == relay.concurrency == 4
        for event_id in event_ids:
            assert await _delivery_status(db, event_id) is DeliveryStatus.DELIVERED

        # It took the last delivery: the next batch goes as many at once from the start.
        arrivals.clear()
        for _ in range(4):
            await _write_event(db)
        assert await relay.deliver_due_events() == 4
        assert arrivals == [0, 1, 2, 3]

        # It failed the last one: the next batch starts with one delivery alone again.
        subscriber.status_codes = [503]
        await _write_event(db)
        assert await relay.deliver_due_events() == 1
        arrivals.clear()
        clocks.advance(60)
        for _ in range(3):
            await _write_event(db, now=clocks.now)
        assert await relay.deliver_due_events() == 4
        assert arrivals == [0, 0, 1, 2]


@pytest.mark.parametrize("failure", [500, 503, 408, 429, "connection"])
async def test_retryable_failure_is_retried_after_a_backoff(
    sqlite_db: Database, subscriber: FakeSubscriber, clocks: Clocks, failure: int | str
) -> None:
    db = sqlite_db
    event_id = await _write_event(db)
    if failure == "connection":
        subscriber.refuse_connections = True
    else:
        assert isinstance(failure, int)
        subscriber.status_codes = [failure]
    async with subscriber.transport as transport:
        relay = _relay(db, subscriber, clocks, transport)
        await relay.deliver_due_events()
        assert await _delivery_status(db, event_id) is DeliveryStatus.PENDING
        subscriber.refuse_connections = False
        clocks.advance(0.5)  # the first backoff is 1 s
        assert await relay.deliver_due_events() == 0
        clocks.advance(0.6)
        assert await relay.deliver_due_events() == 1
    assert await _delivery_status(db, event_id) is DeliveryStatus.DELIVERED
    # At least once: the same event id every time.
    assert {json.loads(request.content)["id"] for request in subscriber.received} == {event_id}


@pytest.mark.parametrize("status_code", [400, 401, 404, 422])
async def test_refused_event_is_marked_dead_and_not_retried(
    sqlite_db: Database, subscriber: FakeSubscriber, clocks: Clocks, status_code: int
) -> None:
    db = sqlite_db
    event_id = await _write_event(db)
    subscriber.status_codes = [status_code]
    dead_before = metrics.EVENT_DELIVERIES.labels("accounts", "dead")._value.get()
    async with subscriber.transport as transport:
        relay = _relay(db, subscriber, clocks, transport)
        await relay.deliver_due_events()
        clocks.advance(3600)
        assert await relay.deliver_due_events() == 0
    assert len(subscriber.received) == 1
    assert await _delivery_status(db, event_id) is DeliveryStatus.DEAD
    assert metrics.EVENT_DELIVERIES.labels("accounts", "dead")._value.get() == dead_before + 1


async def test_delivery_gives_up_after_the_maximum_attempts(
    db: Database,
    subscriber: FakeSubscriber,
    clocks: Clocks,
) -> None:
    event_id = await _write_event(db)
    subscriber.status_codes = [500, 500, 500]
    async with subscriber.transport as transport:
        relay = _relay(db, subscriber, clocks, transport, max_attempts=2)
        for _ in range(4):
            await relay.deliver_due_events()
            clocks.advance(100)
    assert len(subscriber.received) == 2
    assert await _delivery_status(db, event_id) is DeliveryStatus.DEAD


async def test_breaker_stops_calling_a_failing_subscriber_then_resumes(
    db: Database,
    subscriber: FakeSubscriber,
    clocks: Clocks,
) -> None:
    event_ids = [await _write_event(db) for _ in range(5)]
    subscriber.refuse_connections = True
    async with subscriber.transport as transport:
        relay = _relay(db, subscriber, clocks, transport)
        # Three failures in a row open the circuit; the other two are handed back untried.
        assert await relay.deliver_due_events() == 3
        assert relay.breakers["accounts"].is_open
        clocks.advance(20)  # every backoff is over, but the circuit is still open
        assert await relay.deliver_due_events() == 0

        subscriber.refuse_connections = False
        clocks.advance(10)  # cool-down over: one trial, which succeeds and closes the circuit
        assert await relay.deliver_due_events() == 1
        assert not relay.breakers["accounts"].is_open
        clocks.advance(60)
        assert await relay.deliver_due_events() == 4
    for event_id in event_ids:
        assert await _delivery_status(db, event_id) is DeliveryStatus.DELIVERED


async def test_relay_that_dies_mid_delivery_is_covered_by_the_next_one(
    db: Database,
    subscriber: FakeSubscriber,
    clocks: Clocks,
) -> None:
    event_id = await _write_event(db)
    # A relay claims the delivery and dies before recording anything.
    async with db.transaction() as conn:
        await storage.claim_deliveries(
            conn, "accounts", claim_token="dead", now=T0, lease_until=T0 + timedelta(seconds=6),
            limit=10,
        )  # fmt: skip
    async with subscriber.transport as transport:
        relay = _relay(db, subscriber, clocks, transport)
        assert await relay.deliver_due_events() == 0  # still claimed
        clocks.advance(7)
        assert await relay.deliver_due_events() == 1
    assert await _delivery_status(db, event_id) is DeliveryStatus.DELIVERED


async def test_a_claim_outlives_a_pass_whose_every_round_takes_the_timeout(
    db: Database, subscriber: FakeSubscriber, clocks: Clocks
) -> None:
    # 10 deliveries one at a time: ten rounds, each up to the 1-s timeout. A lease of one
    # timeout (and a margin) let another relay deliver the last ones again meanwhile.
    for _ in range(10):
        await _write_event(db)
    held_until: list[datetime] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        async with db.read() as conn:
            [delivery] = await conn.execute(
                sa.select(storage.outbox_deliveries.c.next_attempt_at).where(
                    storage.outbox_deliveries.c.event_id == json.loads(request.content)["id"]
                )
            )
        held_until.append(delivery.next_attempt_at)
        return subscriber.handle(request)

    async with httpx.MockTransport(handle) as transport:
        relay = _relay(db, subscriber, clocks, transport, concurrency=1)
        assert await relay.deliver_due_events() == 10
    assert len(held_until) == 10
    assert min(held_until) >= T0 + timedelta(seconds=10 * relay.timeout_seconds)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_claim_reads_its_deliveries_by_key_however_long_the_backlog(
    db: Database, subscriber: FakeSubscriber, clocks: Clocks
) -> None:
    # Marked with the due conditions too, or read back by claim token alone, a claimed batch
    # made SQLite read every due delivery (with table statistics, every delivery kept) on
    # each claim.
    for _ in range(3):
        await _write_event(db)
    with (
        statements_starting("UPDATE outbox_deliveries") as updates,
        statements_starting("SELECT outbox_events") as selects,
    ):
        async with db.transaction() as conn:
            claimed = await storage.claim_deliveries(
                conn, "accounts", claim_token="c", now=T0, lease_until=T0 + timedelta(1), limit=2
            )
    assert len(claimed) == 2
    for sql, parameters in [*updates, *selects]:
        details = await query_plan(db, sql, parameters)
        assert "INDEX sqlite_autoindex_outbox_deliveries_1 (event_id=? AND subscriber=?)" in details
        assert "SCAN outbox_deliveries" not in details
        assert "ix_outbox_deliveries_due" not in details
    assert (len(updates), len(selects)) == (1, 1)


async def test_subscribers_get_only_the_event_types_they_want(db: Database) -> None:
    ledger = Subscriber(
        name="ledger", url="http://ledger.test/", secret="x", event_types=["payment.succeeded"]
    )
    event_id = await _write_event(db, subscribers=[ACCOUNTS, ledger])
    async with db.read() as conn:
        assert await storage.delivery_statuses(conn, event_id) == {
            "accounts": DeliveryStatus.PENDING
        }


async def test_backlog_metrics_show_pending_deliveries_and_their_age(
    db: Database,
    subscriber: FakeSubscriber,
    clocks: Clocks,
) -> None:
    await _write_event(db)
    await _write_event(db)
    clocks.advance(42)
    async with subscriber.transport as transport:
        relay = _relay(db, subscriber, clocks, transport)
        await relay.refresh_backlog_metrics()
        assert metrics.OUTBOX_BACKLOG._value.get() == 2
        assert metrics.OUTBOX_OLDEST_AGE._value.get() == pytest.approx(42)
        assert await relay.deliver_due_events() == 2
        assert await relay.deliver_due_events() == 0
    assert metrics.OUTBOX_BACKLOG._value.get() == 0
    assert metrics.OUTBOX_OLDEST_AGE._value.get() == 0


async def test_backlog_gauges_are_refreshed_once_a_second_while_draining_and_when_drained(
    db: Database, subscriber: FakeSubscriber, clocks: Clocks
) -> None:
    # Counting the pending deliveries reads all of them: not on every pass of a long drain.
    async with subscriber.transport as transport:
        relay = _relay(db, subscriber, clocks, transport)
        await _write_event(db)
        await relay.refresh_backlog_metrics()
        await _write_event(db)
        assert await relay.deliver_due_events() == 2
        assert metrics.OUTBOX_BACKLOG._value.get() == 1  # as of the last refresh
        await _write_event(db)
        clocks.advance(1)
        assert await relay.deliver_due_events() == 1
        assert metrics.OUTBOX_BACKLOG._value.get() == 0
        await _write_event(db)
        await relay.refresh_backlog_metrics()
        assert await relay.deliver_due_events() == 1
        assert metrics.OUTBOX_BACKLOG._value.get() == 1
        assert await relay.deliver_due_events() == 0  # nothing left: refreshed at once
        assert metrics.OUTBOX_BACKLOG._value.get() == 0


async def test_housekeeping_deletes_old_delivered_events_and_keeps_the_rest(
    db: Database,
    subscriber: FakeSubscriber,
    clocks: Clocks,
) -> None:
    delivered, dead, pending = [
        await _write_event(db, now=T0 - timedelta(seconds=3 - n)) for n in range(3)
    ]
    subscriber.status_codes = [200, 404]
    async with subscriber.transport as transport:
        relay = _relay(db, subscriber, clocks, transport)
        relay.batch_size = 2
        await relay.deliver_due_events()
    statuses = [await _delivery_status(db, event_id) for event_id in (delivered, dead, pending)]
    assert statuses == [DeliveryStatus.DELIVERED, DeliveryStatus.DEAD, DeliveryStatus.PENDING]

    housekeeper = Housekeeper(
        db, key_ttl=timedelta(days=1), outbox_retention=timedelta(days=7), clock=clocks.wall
    )
    assert await housekeeper.purge() == 0
    clocks.advance(8 * 86_400)
    # Three idempotency keys and the one fully delivered event.
    assert await housekeeper.purge() == 4
    async with db.read() as conn:
        assert await storage.delivery_statuses(conn, delivered) == {}
        assert await storage.delivery_statuses(conn, dead) == {"accounts": DeliveryStatus.DEAD}


async def test_a_dead_subscriber_does_not_hold_up_the_others(
    db: Database, subscriber: FakeSubscriber, clocks: Clocks
) -> None:
    crm = Subscriber(name="crm", url="http://crm.test/hooks", secret=SECRET)
    event_id = await _write_event(db, subscribers=[ACCOUNTS, crm])

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "crm.test":
            raise httpx.ConnectError("connection refused", request=request)
        return subscriber.handle(request)

    async with httpx.MockTransport(handle) as transport:
        relay = _relay(db, subscriber, clocks, transport, subscribers=[ACCOUNTS, crm])
        assert await relay.deliver_due_events() == 2
    async with db.read() as conn:
        assert await storage.delivery_statuses(conn, event_id) == {
            "accounts": DeliveryStatus.DELIVERED,
            "crm": DeliveryStatus.PENDING,
        }
