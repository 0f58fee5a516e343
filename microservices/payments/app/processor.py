"""The sandbox payment processor: decides by payment method, like Stripe's test methods."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.models import Payment, PaymentStatus


@dataclass(frozen=True, slots=True)
class Decision:
    """What the processor decided about a payment."""

    status: PaymentStatus
    failure_code: str | None = None
    failure_message: str | None = None


APPROVED = Decision(PaymentStatus.SUCCEEDED)

# Stripe's test payment methods and what each one does.
SANDBOX_METHODS: dict[str, Decision] = {
    "pm_card_visa": APPROVED,
    "pm_card_mastercard": APPROVED,
    "pm_card_chargeDeclined": Decision(
        PaymentStatus.FAILED, "card_declined", "Your card was declined."
    ),
    "pm_card_insufficientFunds": Decision(
        PaymentStatus.FAILED, "insufficient_funds", "Your card has insufficient funds."
    ),
}


def is_known_method(payment_method: str) -> bool:
    """Whether the sandbox knows this payment method."""
    return payment_method in SANDBOX_METHODS


class SandboxProcessor:
    """Charges nothing; answers like a card network would for Stripe's test methods.

    A real processor would receive the payment id as its idempotency key, so a payment
    retried after a crash is charged once; the sandbox's answer depends only on the method.
    """

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.delay_seconds = delay_seconds

    async def charge(self, payment: Payment) -> Decision:
        """The outcome of charging ``payment``."""
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        return SANDBOX_METHODS.get(
            payment.payment_method,
            Decision(PaymentStatus.FAILED, "invalid_payment_method", "Unknown payment method."),
        )
