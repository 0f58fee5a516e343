"""The ledger: balances, transfers between accounts, credits from payments, history.

Invariant: the sum of all balances changes only by credits, and no balance goes negative.
A transfer moves money with a conditional debit (``balance >= amount``) and a credit in one
database transaction; its rows are locked in id order so concurrent transfers cannot deadlock.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from app import storage
from app.errors import (
    AccountNotFound,
    Forbidden,
    IdempotencyKeyReused,
    TransactionNotFound,
    UserNotFound,
)
from app.storage import AccountRecord, TransactionRecord
from servicekit.auth import Principal
from servicekit.db import Database


class Status(enum.StrEnum):
    """Outcome of a transaction, as the seed names them."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class Kind(enum.StrEnum):
    """Where the money came from."""

    TRANSFER = "transfer"
    TOP_UP = "top_up"


class CreditResult(enum.StrEnum):
    """What a payment credit did."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """A transfer as asked for; ``amount`` in minor units."""

    sender_account_id: str
    receiver_account_id: str
    amount: int
    description: str | None = None
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """Identifies the request body, to tell a retry from a different request."""
        body = [self.sender_account_id, self.receiver_account_id, self.amount, self.description]
        return hashlib.sha256(json.dumps(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TransferOutcome:
    """The recorded transaction; ``replayed`` when it answers an earlier identical request."""

    transaction: TransactionRecord
    replayed: bool = False


def may_see_account(actor: Principal, account: AccountRecord) -> bool:
    """The owner and admins see an account's balance and history."""
    return actor.is_admin or account.user_id == actor.user_id


class Ledger:
    """Reads and moves money in the accounts database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def transfer(self, request: TransferRequest, actor: Principal) -> TransferOutcome:
        """Move money from the sender's account to the receiver's, or record why not.

        Insufficient funds is not an error: the transaction is recorded as FAILED and
        nothing moves. AccountNotFound, Forbidden (not the sender's owner) and
        IdempotencyKeyReused are raised before anything is written.
        """
        try:
            return await self._transfer(request, actor)
        except IntegrityError:
            # Only a concurrent request with the same Idempotency-Key can collide here; it
            # committed first, and everything of ours was rolled back. Answer as a retry.
            if request.idempotency_key is None:
                raise
            async with self.db.read() as conn:
                earlier = await storage.get_transaction_by_idempotency_key(
                    conn, request.sender_account_id, request.idempotency_key
                )
            if earlier is None:
                raise
            return _replay(earlier, request)

    async def _transfer(self, request: TransferRequest, actor: Principal) -> TransferOutcome:
        async with self.db.transaction() as conn:
            locked = await storage.lock_accounts(
                conn, [request.sender_account_id, request.receiver_account_id]
            )
            sender = locked.get(request.sender_account_id)
            if sender is None or request.receiver_account_id not in locked:
                raise AccountNotFound()
            if not (actor.is_admin or sender.user_id == actor.user_id):
                raise Forbidden("Only the owner of the sender account can move money out of it")
            if request.idempotency_key is not None:
                earlier = await storage.get_transaction_by_idempotency_key(
                    conn, sender.id, request.idempotency_key
                )
                if earlier is not None:
                    return _replay(earlier, request)
            # Both rows are locked: the balance just read is the one the debit will see.
            moved = sender.balance >= request.amount
            if moved:
                await storage.move_funds(
                    conn, sender.id, request.receiver_account_id, request.amount
                )
            record = await storage.insert_transaction(
                conn,
                sender_account_id=sender.id,
                receiver_account_id=request.receiver_account_id,
                amount=request.amount,
                kind=Kind.TRANSFER,
                status=Status.SUCCESS if moved else Status.FAILED,
                description=request.description,
                idempotency_key=request.idempotency_key,
                request_fingerprint=request.fingerprint() if request.idempotency_key else None,
            )
        return TransferOutcome(record)

    async def credit_payment(
        self, *, event_id: str, user_id: str, amount: int, description: str
    ) -> CreditResult:
        """Credit a user's account for a payment event, once per event id.

        The event id is recorded in the same database transaction as the credit, so a
        redelivered event (or two deliveries racing) never credits twice.
        """
        try:
            async with self.db.transaction() as conn:
                if await storage.applied_event_transaction(conn, event_id) is not None:
                    return CreditResult.DUPLICATE
                account = await storage.get_account_of_user(conn, user_id)
                if account is None:
                    raise UserNotFound()
                await storage.credit(conn, account.id, amount)
                record = await storage.insert_transaction(
                    conn,
                    sender_account_id=None,
                    receiver_account_id=account.id,
                    amount=amount,
                    kind=Kind.TOP_UP,
                    status=Status.SUCCESS,
                    description=description,
                )
                await storage.record_applied_event(conn, event_id, record.id)
        except IntegrityError:
            # A concurrent delivery of the same event won the race; ours was rolled back.
            async with self.db.read() as conn:
                if await storage.applied_event_transaction(conn, event_id) is not None:
                    return CreditResult.DUPLICATE
            raise
        return CreditResult.APPLIED

    async def account_of_user(self, user_id: str) -> AccountRecord:
        """The user's account; AccountNotFound if there is none."""
        async with self.db.read() as conn:
            account = await storage.get_account_of_user(conn, user_id)
        if account is None:
            raise AccountNotFound()
        return account

    async def transaction_for(self, actor: Principal, transaction_id: str) -> TransactionRecord:
        """A transaction, for one of its parties or an admin."""
        async with self.db.read() as conn:
            record = await storage.get_transaction(conn, transaction_id)
            if record is None:
                raise TransactionNotFound()
            if actor.is_admin:
                return record
            party_ids = {record.sender_account_id, record.receiver_account_id}
            own = await storage.get_account_of_user(conn, actor.user_id)
        if own is None or own.id not in party_ids:
            raise Forbidden("Only the parties of a transaction can see it")
        return record

    async def history(
        self,
        actor: Principal,
        account_id: str,
        *,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> list[TransactionRecord]:
        """The account's transactions, newest first, for its owner or an admin."""
        async with self.db.read() as conn:
            account = await storage.get_account(conn, account_id)
            if account is None:
                raise AccountNotFound()
            if not may_see_account(actor, account):
                raise Forbidden("Only the owner of an account can see its transactions")
            return await storage.list_account_transactions(
                conn, account_id, limit=limit, before=before
            )


def _replay(earlier: TransactionRecord, request: TransferRequest) -> TransferOutcome:
    if earlier.request_fingerprint != request.fingerprint():
        raise IdempotencyKeyReused()
    return TransferOutcome(earlier, replayed=True)
