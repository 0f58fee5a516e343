"""Accounts, transfers and history. Amounts are exact decimals in, strings out."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import TypeAdapter
from starlette.routing import Route

from app.dependencies import LedgerDep, SettingsDep, SignedIn
from app.errors import InvalidAmount
from app.ledger import Ledger, TransferRequest, may_see_account
from app.schemas import AccountIdOut, AccountOut, TransactionOut, TransactionPage, TransferCreate
from app.settings import Settings
from servicekit.auth import Principal
from servicekit.direct_routes import signed_in_input
from servicekit.money import ExactJSONRoute, loads_exact, to_minor_units
from servicekit.pagination import decode_cursor, encode_cursor

router = APIRouter(tags=["ledger"], route_class=ExactJSONRoute)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retries with the same key and body get the first answer, not a new transfer",
    ),
]
_TRANSFER_HEADERS = {"Idempotency-Key": TypeAdapter(IdempotencyKey)}


def _minor_units(amount: Decimal, currency: str) -> int:
    try:
        return to_minor_units(amount, currency)
    except ValueError as exc:
        raise InvalidAmount(str(exc)) from exc


@router.get("/accounts/user/{user_id}", responses={404: {"description": "No such account"}})
async def read_account_of_user(
    user_id: str, principal: SignedIn, ledger: LedgerDep, settings: SettingsDep
) -> AccountOut | AccountIdOut:
    """A user's account: with its balance for the owner or an admin, only its id for others."""
    account = await ledger.account_of_user(user_id)
    if may_see_account(principal, account):
        return AccountOut.of(account, settings.ledger_currency)
    return AccountIdOut(account_id=account.id)


@router.post(
    "/transactions",
    response_model=TransactionOut,
    responses={
        403: {"description": "The token is not the sender account owner's"},
        404: {"description": "Sender or receiver account does not exist"},
        422: {"description": "Invalid amount, same account twice, or a reused Idempotency-Key"},
    },
)
async def create_transaction(
    request: Request,
    body: TransferCreate,
    principal: SignedIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Move money out of the caller's account. Not enough funds: recorded, ``status: FAILED``."""
    return await _transfer(request, body, principal, idempotency_key)


async def create_transaction_directly(request: Request) -> Response:
    """``create_transaction`` served as a direct route: the same checks in the same order
    with the same answers, without FastAPI's per-request dependency solving (the hot write
    path; tests hold the two to the same answers)."""
    principal, body, headers = await signed_in_input(
        request, TransferCreate, headers=_TRANSFER_HEADERS, loads=loads_exact
    )
    return await _transfer(request, body, principal, headers["Idempotency-Key"])


async def _transfer(
    request: Request, body: TransferCreate, principal: Principal, idempotency_key: str | None
) -> Response:
    ledger: Ledger = request.app.state.ledger  # what get_ledger and get_settings give
    settings: Settings = request.app.state.settings
    currency = settings.ledger_currency
    transfer = TransferRequest(
        sender_account_id=body.sender_id,
        receiver_account_id=body.receiver_id,
        amount=_minor_units(body.amount, currency),
        description=body.description,
        idempotency_key=idempotency_key,
    )
    outcome = await ledger.transfer(transfer, principal)
    return Response(
        TransactionOut.of(outcome.transaction, currency).model_dump_json(),
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"} if outcome.replayed else None,
    )


@router.get(
    "/transactions/{transaction_id}",
    responses={403: {"description": "Not a party"}, 404: {"description": "No such transaction"}},
)
async def read_transaction(
    transaction_id: str, principal: SignedIn, ledger: LedgerDep, settings: SettingsDep
) -> TransactionOut:
    """A transaction, for its sender, its receiver or an admin."""
    record = await ledger.transaction_for(principal, transaction_id)
    return TransactionOut.of(record, settings.ledger_currency)


@router.get(
    "/accounts/{account_id}/transactions",
    responses={403: {"description": "Not the owner"}, 404: {"description": "No such account"}},
)
async def list_transactions(
    account_id: str,
    principal: SignedIn,
    ledger: LedgerDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> TransactionPage:
    """The account's transactions, newest first, for its owner or an admin."""
    before = decode_cursor(cursor) if cursor else None
    # One more than asked tells whether there is a next page.
    records = await ledger.history(principal, account_id, limit=limit + 1, before=before)
    page = records[:limit]
    next_cursor = None
    if len(records) > limit:
        next_cursor = encode_cursor(page[-1].created_at, page[-1].id)
    return TransactionPage(
        items=[TransactionOut.of(record, settings.ledger_currency) for record in page],
        next_cursor=next_cursor,
    )


# The hot write path, matched before the routers (servicekit's ``create_app``); the declared
# route above documents it in OpenAPI and answers the same.
direct_routes = [Route("/transactions", create_transaction_directly, methods=["POST"])]
