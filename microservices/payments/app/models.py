"""The payments domain's records: what storage returns and the domain functions work on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class PaymentStatus(StrEnum):
    """Where a payment is in its lifecycle: accepted -> processing -> succeeded | failed."""

    ACCEPTED = "accepted"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """Whether the payment will never change again."""
        return self in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED)


class EventType(StrEnum):
    """The events a payment's state changes produce."""

    ACCEPTED = "payment.accepted"
    SUCCEEDED = "payment.succeeded"
    FAILED = "payment.failed"


class DeliveryStatus(StrEnum):
    """Where one event's delivery to one subscriber is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    # Refused for good (a 4xx other than 408/429) or out of attempts; needs a human.
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class NewPayment:
    """A validated payment request."""

    amount: Decimal
    currency: str
    description: str | None
    payment_method: str


@dataclass(frozen=True, slots=True)
class Payment:
    """A stored payment."""

    id: str
    payer_id: str
    amount: Decimal
    currency: str
    description: str | None
    payment_method: str
    status: PaymentStatus
    failure_code: str | None
    failure_message: str | None
    idempotency_key: str | None
    request_id: str | None
    created_at: datetime
    updated_at: datetime
    processing_started_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event written in the same transaction as the state change it reports."""

    id: str
    type: EventType
    payment_id: str
    # The exact JSON body every subscriber receives.
    payload: str
    request_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """An event a relay has claimed for delivery to one subscriber."""

    event: OutboxEvent
    subscriber: str
    attempts: int
    claim_token: str


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first response to an idempotent request, replayed to its retries."""

    status_code: int
    body: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What is stored about one (caller, key) pair."""

    caller_id: str
    key: str
    fingerprint: str
    lock_token: str | None
    locked_at: datetime
    created_at: datetime
    response: StoredResponse | None
