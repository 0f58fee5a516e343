"""Payments service settings (environment variables prefixed `PAYMENTS_`)."""

import functools
from typing import ClassVar, Self

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from servicekit import ServiceSettings, service_settings_config
from servicekit.money import check_currency


class Subscriber(BaseModel):
    """Someone who receives payment events: a URL, and the secret deliveries are signed with."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str
    secret: SecretStr = Field(min_length=1)
    # Event types this subscriber wants; empty means all of them.
    event_types: list[str] = Field(default_factory=list)

    def wants(self, event_type: str) -> bool:
        """Whether events of this type are delivered to this subscriber."""
        return not self.event_types or event_type in self.event_types


class Settings(ServiceSettings):
    """Settings of the payments service; see `.env.example` for every variable."""

    model_config = service_settings_config("PAYMENTS_")

    service_name: ClassVar[str] = "payments"

    # Platform-wide: the accounts ledger's currency, and the secret payment events are signed
    # with for the accounts subscriber.
    ledger_currency: str = Field(default="USD", validation_alias="LEDGER_CURRENCY")
    payment_events_secret: SecretStr = Field(
        default=SecretStr(""), validation_alias="PAYMENT_EVENTS_SECRET"
    )

    accounts_events_url: str = "http://127.0.0.1:8001/internal/events"
    # More subscribers, as JSON: [{"name": "...", "url": "...", "secret": "...",
    # "event_types": ["payment.succeeded"]}].
    event_subscribers: list[Subscriber] = Field(default_factory=list)

    idempotency_key_ttl_seconds: float = Field(default=86_400, gt=0)
    # A request holding a key this long is presumed dead (its process crashed); a retry
    # with the same key and body may then take the key over.
    idempotency_lock_timeout_seconds: float = Field(default=60, gt=0)

    # Background tasks: turn off to run an API-only process.
    run_background_tasks: bool = True
    worker_poll_interval_seconds: float = Field(default=1.0, gt=0)
    worker_batch_size: int = Field(default=10, ge=1, le=1000)
    # A payment in `processing` whose worker has not finished it within this time is taken
    # over by another worker (the first one crashed). Must exceed the processor's latency.
    processing_lease_seconds: float = Field(default=30, gt=0)
    # Simulated latency of the sandbox processor (demos and crash tests).
    processor_delay_seconds: float = Field(default=0, ge=0)

    relay_poll_interval_seconds: float = Field(default=1.0, gt=0)
    # Deliveries claimed per subscriber per pass: 20 left the relay waiting on each pass's
    # claim and slowest delivery (a 10-s burst's last credit came 46 s after it, not 30 s).
    relay_batch_size: int = Field(default=50, ge=1, le=1000)
    # Deliveries in flight at once per subscriber (while it answers).
    relay_concurrency: int = Field(default=8, ge=1, le=100)
    delivery_timeout_seconds: float = Field(default=5, gt=0)
    retry_base_seconds: float = Field(default=1, gt=0)
    retry_max_seconds: float = Field(default=3600, gt=0)
    delivery_max_attempts: int = Field(default=50, ge=1)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30, gt=0)

    housekeeping_interval_seconds: float = Field(default=300, gt=0)
    # Delivered events are kept this long (for audits and replays), then deleted.
    outbox_retention_seconds: float = Field(default=7 * 86_400, gt=0)

    @field_validator("ledger_currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        return check_currency(value)

    @model_validator(mode="after")
    def _subscriber_names_are_unique(self) -> Self:
        names = [subscriber.name for subscriber in self.subscribers]
        if len(names) != len(set(names)):
            raise ValueError("event subscriber names must be unique ('accounts' is taken)")
        return self

    @functools.cached_property
    def subscribers(self) -> list[Subscriber]:
        """Every subscriber: accounts (from the two platform settings) and the extra ones."""
        accounts = Subscriber(
            name="accounts",
            url=self.accounts_events_url,
            # Checked at start-up (`require_events_secret`); a placeholder keeps this total.
            secret=self.payment_events_secret.get_secret_value() or "unset",
            # The only event accounts acts on (it answers the others "ignored").
            event_types=["payment.succeeded"],
        )
        return [accounts, *self.event_subscribers]

    def require_events_secret(self) -> None:
        """Refuse to run without the secret that signs events for accounts."""
        if not self.payment_events_secret.get_secret_value():
            raise RuntimeError(
                "PAYMENT_EVENTS_SECRET is not set: payments cannot sign the events that credit "
                "accounts. Set the same value for accounts and payments."
            )
