"""Payment events from the payments service: verified, parsed, applied to the ledger once."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from app.errors import InvalidAmount, InvalidEvent, InvalidSignature
from app.ledger import Ledger
from servicekit import signing
from servicekit.money import Amount, loads_exact, to_minor_units

CREDITING_EVENT = "payment.succeeded"


class PaymentEvent(BaseModel):
    """The envelope every event has."""

    id: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1, max_length=100)
    created_at: str | None = None
    data: dict[str, Any]


class PaymentData(BaseModel):
    """The ``data`` of a payment event."""

    payment_id: str = Field(min_length=1, max_length=100)
    user_id: str = Field(min_length=1, max_length=100)
    amount: Amount
    currency: str = Field(min_length=3, max_length=3)


async def receive_payment_event(
    ledger: Ledger, *, secret: str, ledger_currency: str, body: bytes, signature: str | None
) -> str:
    """Apply a signed delivery; answer ``applied``, ``duplicate`` or ``ignored``.

    The signature is checked before the body is even parsed. Without a configured secret
    every delivery is refused: unsigned credits are never accepted.
    """
    if not secret:
        raise InvalidSignature("Event deliveries are not configured (no secret)")
    try:
        signing.verify_signature(secret, body, signature)
    except signing.InvalidSignature as exc:
        raise InvalidSignature() from exc
    try:
        event = PaymentEvent.model_validate(loads_exact(body))
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc)) from exc
    except ValueError as exc:
        raise InvalidEvent("Malformed event: the body is not valid JSON") from exc
    if event.type != CREDITING_EVENT:
        return "ignored"
    try:
        data = PaymentData.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc, prefix="data.")) from exc
    if data.currency.upper() != ledger_currency:
        raise InvalidAmount(f"Only {ledger_currency} payments can be credited")
    try:
        amount = to_minor_units(data.amount, ledger_currency)
    except ValueError as exc:
        raise InvalidAmount(str(exc)) from exc
    result = await ledger.credit_payment(
        event_id=event.id,
        user_id=data.user_id,
        amount=amount,
        description=f"Payment {data.payment_id}",
    )
    return result.value


def _describe(exc: ValidationError, prefix: str = "") -> str:
    # Name the fields, never their values: the body may hold anything.
    fields = {prefix + ".".join(str(part) for part in error["loc"]) for error in exc.errors()}
    return f"Malformed event: check {', '.join(sorted(fields))}"
