"""Endpoints for the platform's own services; the gateway refuses ``/accounts/internal/``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from app.dependencies import LedgerDep, SettingsDep
from app.events import receive_payment_event
from app.schemas import EventReceipt
from servicekit.signing import SIGNATURE_HEADER

router = APIRouter(prefix="/internal", tags=["internal"])


@router.post(
    "/events",
    responses={
        401: {"description": "Missing, wrong or stale signature"},
        404: {"description": "The payer has no account"},
        422: {"description": "Malformed event, or a currency other than the ledger's"},
    },
)
async def receive_event(
    request: Request,
    ledger: LedgerDep,
    settings: SettingsDep,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
) -> EventReceipt:
    """A signed payment event: ``payment.succeeded`` credits the payer once per event id."""
    status = await receive_payment_event(
        ledger,
        secret=settings.payment_events_secret.get_secret_value(),
        ledger_currency=settings.ledger_currency,
        body=await request.body(),
        signature=signature,
    )
    return EventReceipt.model_validate({"status": status})
