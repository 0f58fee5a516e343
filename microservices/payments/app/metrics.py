"""Prometheus metrics of the payments service (created once, at import)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PAYMENTS = Counter(
    "payments_total",
    "Payments that reached each status (accepted, processing, succeeded, failed).",
    ["status"],
)
PROCESSING_SECONDS = Histogram(
    "payments_processing_seconds",
    "Time from a payment's acceptance to its final status.",
    ["status"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
EVENT_DELIVERIES = Counter(
    "payments_event_deliveries_total",
    "Event delivery attempts by subscriber and outcome (delivered, retry, dead, skipped).",
    ["subscriber", "outcome"],
)
# Every replica reads the same database, so the largest value across processes is the truth.
OUTBOX_BACKLOG = Gauge(
    "payments_outbox_backlog",
    "Event deliveries not yet made (pending, across all subscribers).",
    multiprocess_mode="max",
)
OUTBOX_OLDEST_AGE = Gauge(
    "payments_outbox_oldest_undelivered_age_seconds",
    "Age of the oldest event delivery not yet made (0 when there is none).",
    multiprocess_mode="max",
)
CIRCUIT_OPEN = Gauge(
    "payments_subscriber_circuit_open",
    "1 while deliveries to a subscriber are paused by its circuit breaker.",
    ["subscriber"],
    multiprocess_mode="max",
)
