"""HTTP routes of the payments service: parse, authorize, call the domain, shape the answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from pydantic import TypeAdapter
from starlette.routing import Route

from app.idempotency import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    parse_idempotency_key,
    request_fingerprint,
)
from app.models import PaymentStatus
from app.payments import (
    LedgerCurrencyMismatch,
    accept_payment,
    ensure_ledger_currency,
    get_visible_payment,
    list_caller_payments,
)
from app.schemas import PaymentCreate, PaymentOut, PaymentPage
from app.settings import Settings
from servicekit.app import DatabaseDep
from servicekit.auth import CurrentUser, Principal
from servicekit.db import Database
from servicekit.direct_routes import signed_in_input
from servicekit.logging import request_id_var
from servicekit.money import ExactJSONRoute, loads_exact

router = APIRouter(route_class=ExactJSONRoute, tags=["payments"])

REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(description="Unique per payment attempt; bare or quoted, at most 255 chars."),
]
_CREATE_HEADERS = {"Idempotency-Key": TypeAdapter(IdempotencyKeyHeader)}

_CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted; `Location` names the payment. Replays carry "
        f"`{REPLAYED_HEADER}: true`."
    },
    400: {"description": "`Idempotency-Key` missing, empty or longer than 255 characters"},
    409: {"description": "A request with this key is still being processed"},
    422: {
        "description": "Invalid body, currency other than the ledger's, unknown payment "
        "method, or the key was used for a different request"
    },
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _service_path(request: Request) -> str:
    """The path as this service routes it, without the gateway's prefix."""
    root_path: str = request.scope.get("root_path", "")
    path: str = request.scope["path"]
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path


@router.post(
    "/payments",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PaymentOut,
    responses=_CREATE_RESPONSES,
)
async def create_payment(
    request: Request,
    body: PaymentCreate,
    user: CurrentUser,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Accept a payment for asynchronous processing, once per `Idempotency-Key`."""
    return await _accept(request, body, user, idempotency_key)


async def create_payment_directly(request: Request) -> Response:
    """``create_payment`` served as a direct route: the same checks in the same order with
    the same answers, without FastAPI's per-request dependency solving (the hot create path;
    tests hold the two to the same answers)."""
    user, body, headers = await signed_in_input(
        request, PaymentCreate, headers=_CREATE_HEADERS, loads=loads_exact
    )
    return await _accept(request, body, user, headers["Idempotency-Key"])


async def _accept(
    request: Request, body: PaymentCreate, user: Principal, idempotency_key: str | None
) -> Response:
    settings = _settings(request)
    try:
        key = parse_idempotency_key(idempotency_key)
        ensure_ledger_currency(body.currency, settings.ledger_currency)
    except InvalidIdempotencyKey as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    except LedgerCurrencyMismatch as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    db: Database = request.app.state.db
    try:
        accepted = await accept_payment(
            db,
            body.to_new_payment(),
            payer_id=user.user_id,
            idempotency_key=key,
            fingerprint=request_fingerprint(
                request.method, _service_path(request), await request.body()
            ),
            location_base=f"{request.scope.get('root_path', '')}/payments",
            subscribers=settings.subscribers,
            request_id=request_id_var.get() or None,
            ttl=timedelta(seconds=settings.idempotency_key_ttl_seconds),
            lock_timeout=timedelta(seconds=settings.idempotency_lock_timeout_seconds),
        )
    except IdempotencyKeyReused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except IdempotencyKeyInFlight as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, str(exc), headers={"Retry-After": "1"}
        ) from exc
    headers = dict(accepted.response.headers)
    if accepted.replayed:
        headers[REPLAYED_HEADER] = "true"
    else:
        background = getattr(request.app.state, "background", None)
        if background is not None:
            background.wake_worker()
    return Response(
        content=accepted.response.body,
        status_code=accepted.response.status_code,
        headers=headers,
        media_type="application/json",
    )


@router.get(
    "/payments/{payment_id}",
    response_model=PaymentOut,
    responses={404: {"description": "No such payment, or not yours"}},
)
async def read_payment(payment_id: str, user: CurrentUser, db: DatabaseDep) -> PaymentOut:
    """One payment: its payer (or an admin) only; anyone else gets 404."""
    payment = await get_visible_payment(
        db, payment_id, caller_id=user.user_id, is_admin=user.is_admin
    )
    if payment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Payment not found")
    return PaymentOut.from_payment(payment)


@router.get("/payments", response_model=PaymentPage)
async def list_payments(
    user: CurrentUser,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    status_filter: Annotated[PaymentStatus | None, Query(alias="status")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PaymentPage:
    """The caller's payments, newest first; `status` filters, `cursor` pages."""
    page, next_cursor = await list_caller_payments(
        db, user.user_id, limit=limit, status=status_filter, cursor=cursor
    )
    return PaymentPage(
        data=[PaymentOut.from_payment(payment) for payment in page],
        has_more=next_cursor is not None,
        next_cursor=next_cursor,
    )


# The hot create path, matched before the routers (servicekit's ``create_app``); the declared
# route above documents it in OpenAPI and answers the same.
direct_routes = [Route("/payments", create_payment_directly, methods=["POST"])]
