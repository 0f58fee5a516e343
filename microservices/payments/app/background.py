"""The service's background loops: payment worker, event relay and housekeeping.

Each runs as an asyncio task inside the service process, started and cancelled by the app's
lifespan. Every replica and uvicorn worker runs them; the storage layer makes that safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx

from app import storage
from app.idempotency import purge_expired_keys
from app.payments import Clock, PaymentWorker, utcnow
from app.processor import SandboxProcessor
from app.relay import EventRelay
from app.settings import Settings
from servicekit.db import Database

logger = logging.getLogger("payments.background")


class PeriodicTask:
    """Runs ``step`` again and again: at once while it finds work, else every ``interval``
    seconds or as soon as someone calls ``wake``. A failing step is logged, not fatal."""

    def __init__(self, name: str, step: Callable[[], Awaitable[int]], interval: float) -> None:
        self.name = name
        self.step = step
        self.interval = interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Run the next step now instead of at the end of the interval."""
        self._wake.set()

    async def run(self) -> None:
        """Loop until cancelled."""
        while True:
            try:
                found_work = await self.step()
            except Exception:
                logger.exception("background step failed", extra={"task": self.name})
                found_work = 0
            if found_work:
                await asyncio.sleep(0)  # let the rest of the service breathe while draining
                continue
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow a
            # cancellation that lands as the wait ends, and shut-down then hangs.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()


@dataclass
class Housekeeper:
    """Purges idempotency keys past their TTL and events every subscriber has received."""

    db: Database
    key_ttl: timedelta
    outbox_retention: timedelta
    clock: Clock = utcnow

    async def purge(self) -> int:
        """One purge pass; how many rows were deleted."""
        now = self.clock()
        keys = await purge_expired_keys(self.db, now=now, ttl=self.key_ttl)
        async with self.db.transaction() as conn:
            events = await storage.delete_delivered_events_before(conn, now - self.outbox_retention)
        if keys or events:
            logger.info("purged", extra={"idempotency_keys": keys, "outbox_events": events})
        return keys + events


@dataclass
class BackgroundWork:
    """The running loops; ``wake_worker`` is called when a payment was accepted."""

    worker: PeriodicTask
    relay: PeriodicTask
    housekeeping: PeriodicTask

    def wake_worker(self) -> None:
        """A payment is waiting: process it now."""
        self.worker.wake()


@contextlib.asynccontextmanager
async def run_background_work(
    db: Database,
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[BackgroundWork]:
    """Start the worker, relay and housekeeping loops; cancel them cleanly on exit."""
    subscribers = settings.subscribers
    worker = PaymentWorker(
        db,
        SandboxProcessor(settings.processor_delay_seconds),
        subscribers=subscribers,
        lease=timedelta(seconds=settings.processing_lease_seconds),
        batch_size=settings.worker_batch_size,
    )
    housekeeper = Housekeeper(
        db,
        key_ttl=timedelta(seconds=settings.idempotency_key_ttl_seconds),
        outbox_retention=timedelta(seconds=settings.outbox_retention_seconds),
    )
    async with transport or httpx.AsyncHTTPTransport() as deliveries:
        relay = EventRelay(
            db,
            subscribers,
            transport=deliveries,
            batch_size=settings.relay_batch_size,
            concurrency=settings.relay_concurrency,
            timeout_seconds=settings.delivery_timeout_seconds,
            retry_base_seconds=settings.retry_base_seconds,
            retry_max_seconds=settings.retry_max_seconds,
            max_attempts=settings.delivery_max_attempts,
            breaker_failure_threshold=settings.breaker_failure_threshold,
            breaker_cooldown_seconds=settings.breaker_cooldown_seconds,
        )
        relay_task = PeriodicTask(
            "relay", relay.deliver_due_events, settings.relay_poll_interval_seconds
        )

        async def process_then_wake_relay() -> int:
            processed = await worker.process_due_payments()
            if processed:
                relay_task.wake()
            return processed

        work = BackgroundWork(
            worker=PeriodicTask(
                "worker", process_then_wake_relay, settings.worker_poll_interval_seconds
            ),
            relay=relay_task,
            housekeeping=PeriodicTask(
                "housekeeping", housekeeper.purge, settings.housekeeping_interval_seconds
            ),
        )
        tasks = [
            asyncio.create_task(loop.run(), name=f"payments-{loop.name}")
            for loop in (work.worker, work.relay, work.housekeeping)
        ]
        try:
            yield work
        finally:
            for task in tasks:
                task.cancel()
            # Wait for them to stop, so none touches the database after it is disposed.
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                released = await worker.release_leases()
            except Exception:
                logger.exception("could not hand back payments at shut-down")
            else:
                if released:
                    logger.info("handed back payments at shut-down", extra={"count": released})
