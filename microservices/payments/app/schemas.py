"""Request and response bodies of the payments API (and the data of payment events)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator, model_validator

from app.models import NewPayment, Payment, PaymentStatus
from app.processor import SANDBOX_METHODS, is_known_method
from servicekit.money import Amount, check_currency, check_precision, format_amount

Timestamp = Annotated[datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str)]


class PaymentCreate(BaseModel):
    """``POST /payments``: amounts as JSON numbers (``100.00``) or strings (``"100.00"``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"amount": 100.00, "currency": "USD", "description": "Test payment"}]
        }
    )

    amount: Amount
    currency: str = "USD"
    description: str | None = Field(default=None, max_length=1000)
    payment_method: str = Field(
        default="pm_card_visa",
        description=f"A sandbox test method: {', '.join(SANDBOX_METHODS)}.",
    )

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("payment_method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if not is_known_method(value):
            raise ValueError(f"unknown payment method; use one of: {', '.join(SANDBOX_METHODS)}")
        return value

    @model_validator(mode="after")
    def _amount_fits_currency(self) -> Self:
        self.amount = check_precision(self.amount, self.currency)
        return self

    def to_new_payment(self) -> NewPayment:
        """The validated request as the domain sees it."""
        return NewPayment(
            amount=self.amount,
            currency=self.currency,
            description=self.description,
            payment_method=self.payment_method,
        )


class PaymentOut(BaseModel):
    """A payment as the API shows it (and as payment events carry it)."""

    payment_id: str
    user_id: str
    status: PaymentStatus
    amount: str = Field(examples=["100.00"])
    currency: str
    description: str | None
    payment_method: str
    failure_code: str | None
    failure_message: str | None
    created_at: Timestamp
    updated_at: Timestamp
    processing_started_at: Timestamp | None
    completed_at: Timestamp | None

    @classmethod
    def from_payment(cls, payment: Payment) -> PaymentOut:
        """The API view of a stored payment."""
        return cls(
            payment_id=payment.id,
            user_id=payment.payer_id,
            status=payment.status,
            amount=format_amount(payment.amount, payment.currency),
            currency=payment.currency,
            description=payment.description,
            payment_method=payment.payment_method,
            failure_code=payment.failure_code,
            failure_message=payment.failure_message,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
            processing_started_at=payment.processing_started_at,
            completed_at=payment.completed_at,
        )


class PaymentPage(BaseModel):
    """One page of a caller's payments, newest first."""

    data: list[PaymentOut]
    has_more: bool
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
