"""Delivers outbox events to subscribers over HTTP, signed, retried, at least once.

- Each delivery is POSTed with ``Webhook-Signature: t=<unix>,v1=<hmac-sha256>`` (the
  subscriber's secret over ``"<t>." + body``), ``X-Request-ID`` of the request that caused
  the event, and ``Content-Type: application/json``.
- 2xx: delivered. 5xx, 408, 429, timeouts and connection errors: retried with exponential
  backoff and jitter, up to a maximum number of attempts. Any other 4xx: the subscriber
  refused the event for good; the delivery is marked dead, logged and counted.
- A circuit breaker per subscriber stops calling one that keeps failing, then lets a single
  trial delivery through after a cool-down and resumes when it succeeds.
- Consumers dedupe by event id: a relay that dies between sending and recording delivers
  again after its claim's lease runs out.
- Deliveries to a subscriber that answers go several at a time (``concurrency``), so events
  may arrive out of order (retries reorder them anyway): each carries its payment's state
  and ``created_at``. A subscriber that fails gets one call at a time until its breaker opens.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum

import httpx

from app import metrics, storage
from app.models import ClaimedDelivery
from app.payments import Clock, utcnow
from app.settings import Subscriber
from servicekit.db import Database
from servicekit.logging import request_id_var
from servicekit.signing import SIGNATURE_HEADER, sign_payload

logger = logging.getLogger("payments.relay")

# While a backlog drains, its gauges are refreshed this often (counting the pending
# deliveries reads all of them); at once whenever a pass finds nothing to deliver.
BACKLOG_REFRESH_SECONDS = 1.0


class DeliveryOutcome(StrEnum):
    """What to do after one delivery attempt."""

    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


def classify_response(status_code: int) -> DeliveryOutcome:
    """Delivered on 2xx; retry on 5xx, 408, 429 (and redirects); dead on any other 4xx."""
    if 200 <= status_code < 300:
        return DeliveryOutcome.DELIVERED
    if 400 <= status_code < 500 and status_code not in (408, 429):
        return DeliveryOutcome.DEAD
    return DeliveryOutcome.RETRY


def retry_delay(
    attempt: int, *, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    Exponential (base, 2*base, 4*base, ... up to cap) with "equal jitter": half the delay is
    fixed, half random, so retries of many events spread out but never fire instantly.
    """
    delay = min(cap, base * math.pow(2, min(attempt - 1, 62)))
    return delay / 2 + rng() * delay / 2


class CircuitBreaker:
    """Closed (calls flow) -> open after N failures in a row (no calls) -> half-open after a
    cool-down (one trial call) -> closed on success, open again on failure."""

    def __init__(
        self,
        *,
        failure_threshold: int,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self.clock = clock
        self.consecutive_failures = 0
        self.last_call_succeeded = False
        self._opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        """No calls are allowed right now."""
        return self._opened_at is not None and not self.is_half_open

    @property
    def is_half_open(self) -> bool:
        """The cool-down is over: one trial call decides whether to close again."""
        return (
            self._opened_at is not None and self.clock() - self._opened_at >= self.cooldown_seconds
        )

    def allows_calls(self) -> bool:
        """Whether a call may be made now (closed or half-open)."""
        return not self.is_open

    def record_success(self) -> None:
        """A call worked: close the circuit."""
        self.consecutive_failures = 0
        self.last_call_succeeded = True
        self._opened_at = None

    def record_failure(self) -> None:
        """A call failed: open the circuit after too many in a row, or after a failed trial."""
        self.consecutive_failures += 1
        self.last_call_succeeded = False
        if self.is_half_open or self.consecutive_failures >= self.failure_threshold:
            self._opened_at = self.clock()


class EventRelay:
    """Delivers due outbox events to every subscriber, one batch per subscriber per pass."""

    def __init__(
        self,
        db: Database,
        subscribers: list[Subscriber],
        *,
        transport: httpx.AsyncBaseTransport,
        batch_size: int,
        concurrency: int,
        timeout_seconds: float,
        retry_base_seconds: float,
        retry_max_seconds: float,
        max_attempts: int,
        breaker_failure_threshold: int,
        breaker_cooldown_seconds: float,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.subscribers = subscribers
        self.transport = transport
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.timeout_seconds = timeout_seconds
        self._timeouts = httpx.Timeout(timeout_seconds).as_dict()
        # Parsed once: each delivery would parse its subscriber's URL again.
        self._urls = {subscriber.name: httpx.URL(subscriber.url) for subscriber in subscribers}
        # A claim outlives the longest pass (its batch in rounds of `concurrency` attempts,
        # each at most the timeout), so that only a dead relay's claims expire.
        rounds = math.ceil(batch_size / concurrency)
        self.claim_lease = timedelta(seconds=rounds * timeout_seconds + 5)
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self.max_attempts = max_attempts
        self.clock = clock
        self.monotonic = monotonic
        self.rng = rng
        self._backlog_refreshed_at = -math.inf
        self.breakers = {
            subscriber.name: CircuitBreaker(
                failure_threshold=breaker_failure_threshold,
                cooldown_seconds=breaker_cooldown_seconds,
                clock=monotonic,
            )
            for subscriber in subscribers
        }

    async def deliver_due_events(self) -> int:
        """One pass over every subscriber; how many deliveries were attempted."""
        # Side by side, so that a slow or dead subscriber does not hold up the others.
        results = await asyncio.gather(
            *(self._deliver_to(subscriber) for subscriber in self.subscribers),
            return_exceptions=True,
        )
        attempted = 0
        for subscriber, result in zip(self.subscribers, results, strict=True):
            breaker = self.breakers[subscriber.name]
            metrics.CIRCUIT_OPEN.labels(subscriber.name).set(1 if breaker.is_open else 0)
            if isinstance(result, BaseException):
                # Its claims expire and are delivered on a later pass.
                logger.error(
                    "delivering events failed",
                    extra={"subscriber": subscriber.name, "error": repr(result)},
                )
            else:
                attempted += result
        if (
            not attempted
            or self.monotonic() - self._backlog_refreshed_at >= BACKLOG_REFRESH_SECONDS
        ):
            await self.refresh_backlog_metrics()
        return attempted

    async def refresh_backlog_metrics(self) -> None:
        """Update the backlog gauges from the database (shared by every replica)."""
        self._backlog_refreshed_at = self.monotonic()
        async with self.db.read() as conn:
            backlog, oldest = await storage.outbox_backlog(conn)
        metrics.OUTBOX_BACKLOG.set(backlog)
        age = (self.clock() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.OUTBOX_OLDEST_AGE.set(max(age, 0.0))

    async def _deliver_to(self, subscriber: Subscriber) -> int:
        breaker = self.breakers[subscriber.name]
        if not breaker.allows_calls():
            return 0
        # Half-open: a single trial delivery decides whether the subscriber is back.
        limit = 1 if breaker.is_half_open else self.batch_size
        now = self.clock()
        async with self.db.transaction() as conn:
            claimed = await storage.claim_deliveries(
                conn,
                subscriber.name,
                claim_token=str(uuid.uuid4()),
                now=now,
                lease_until=now + self.claim_lease,
                limit=limit,
            )
        attempted = 0
        # One iterator for every lane: each delivery is taken by one of them.
        deliveries = iter(claimed)

        async def deliver(count: int | None) -> None:
            nonlocal attempted
            for delivery in itertools.islice(deliveries, count):
                if not breaker.allows_calls():
                    # The circuit opened during this batch: hand the rest back untried.
                    await self._release(delivery, breaker)
                    metrics.EVENT_DELIVERIES.labels(subscriber.name, "skipped").inc()
                    continue
                await self._attempt(subscriber, delivery, breaker)
                attempted += 1

        # A round trip per delivery, one after another, capped the relay at about 130 a
        # second. Unless the subscriber took the last delivery, the first goes alone: one that
        # is failing (or not heard from yet) is not met by a crowd.
        if not breaker.last_call_succeeded:
            await deliver(1)
        lanes = self.concurrency if breaker.consecutive_failures == 0 else 1
        async with asyncio.TaskGroup() as group:
            for _ in range(lanes):
                group.create_task(deliver(None))
        return attempted

    async def _release(self, delivery: ClaimedDelivery, breaker: CircuitBreaker) -> None:
        retry_at = self.clock() + timedelta(seconds=breaker.cooldown_seconds)
        async with self.db.transaction() as conn:
            await storage.release_delivery(conn, delivery, next_attempt_at=retry_at)

    async def _attempt(
        self, subscriber: Subscriber, delivery: ClaimedDelivery, breaker: CircuitBreaker
    ) -> None:
        event = delivery.event
        context = request_id_var.set(event.request_id or "")
        try:
            status_code, error = await self._post(subscriber, delivery)
            outcome = (
                classify_response(status_code) if status_code is not None else DeliveryOutcome.RETRY
            )
            attempt = delivery.attempts + 1
            if outcome is DeliveryOutcome.RETRY and attempt >= self.max_attempts:
                outcome = DeliveryOutcome.DEAD
                error = f"gave up after {attempt} attempts: {error}"
            await self._record(delivery, outcome, status_code, error, attempt)
            if outcome is DeliveryOutcome.RETRY:
                breaker.record_failure()
            else:
                # A 4xx refusal is about this event, not the subscriber's health.
                breaker.record_success()
            metrics.EVENT_DELIVERIES.labels(subscriber.name, outcome.value).inc()
            log_fields = {
                "event_id": event.id,
                "event_type": event.type.value,
                "payment_id": event.payment_id,
                "subscriber": subscriber.name,
                "attempt": attempt,
                "status_code": status_code,
                "outcome": outcome.value,
            }
            if outcome is DeliveryOutcome.DEAD:
                logger.error("event delivery failed for good", extra={**log_fields, "error": error})
            elif outcome is DeliveryOutcome.RETRY:
                logger.warning(
                    "event delivery failed; will retry", extra={**log_fields, "error": error}
                )
            else:
                logger.info("event delivered", extra=log_fields)
        finally:
            request_id_var.reset(context)

    async def _post(
        self, subscriber: Subscriber, delivery: ClaimedDelivery
    ) -> tuple[int | None, str]:
        """POST the event; (status code, error text) or (None, error) if no answer came."""
        body = delivery.event.payload.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_payload(subscriber.secret.get_secret_value(), body),
        }
        if delivery.event.request_id:
            headers["X-Request-ID"] = delivery.event.request_id
        # Straight to the transport: a delivery is a bare POST, so an httpx client would only
        # add work to each one (cookies kept from the answers, default headers, redirects).
        request = httpx.Request(
            "POST",
            self._urls[subscriber.name],
            content=body,
            headers=headers,
            extensions={"timeout": self._timeouts},
        )
        try:
            # httpx's timeout is per phase (connect, write, read); this caps the whole call.
            async with asyncio.timeout(self.timeout_seconds):
                response = await self.transport.handle_async_request(request)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        except (httpx.HTTPError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
        error = "" if response.is_success else f"HTTP {response.status_code}: {response.text}"
        return response.status_code, error[:500]

    async def _record(
        self,
        delivery: ClaimedDelivery,
        outcome: DeliveryOutcome,
        status_code: int | None,
        error: str,
        attempt: int,
    ) -> None:
        now = self.clock()
        async with self.db.transaction() as conn:
            if outcome is DeliveryOutcome.DELIVERED:
                assert status_code is not None
                await storage.mark_delivered(conn, delivery, status_code=status_code, now=now)
            elif outcome is DeliveryOutcome.DEAD:
                await storage.mark_dead(conn, delivery, status_code=status_code, error=error)
            else:
                delay = retry_delay(
                    attempt,
                    base=self.retry_base_seconds,
                    cap=self.retry_max_seconds,
                    rng=self.rng,
                )
                await storage.schedule_retry(
                    conn,
                    delivery,
                    next_attempt_at=now + timedelta(seconds=delay),
                    status_code=status_code,
                    error=error,
                )
