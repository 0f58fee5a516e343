"""Everything accounts keeps, and every query it runs (SQLAlchemy Core, SQLite or PostgreSQL).

Functions take an open connection so that the domain decides what runs in one transaction.
Money is stored as integer minor units of the ledger currency.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from servicekit.db import UTCDateTime
from servicekit.prepared import PreparedWrite

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("phone_number", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("date_of_birth", sa.Date, nullable=True),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("phone_number", name="uq_users_phone_number"),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("balance", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("user_id", name="uq_accounts_user_id"),
    sa.CheckConstraint("balance >= 0", name="ck_accounts_balance_not_negative"),
)

transactions = sa.Table(
    "transactions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    # NULL for credits that come from outside the ledger (top-ups from payments).
    sa.Column("sender_account_id", sa.String(36), sa.ForeignKey("accounts.id"), nullable=True),
    sa.Column("receiver_account_id", sa.String(36), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("description", sa.String(255), nullable=True),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_fingerprint", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("amount > 0", name="ck_transactions_amount_positive"),
    sa.UniqueConstraint(
        "sender_account_id", "idempotency_key", name="uq_transactions_sender_idempotency_key"
    ),
    sa.Index("ix_transactions_sender_created", "sender_account_id", "created_at"),
    sa.Index("ix_transactions_receiver_created", "receiver_account_id", "created_at"),
)

# Payment events already applied: the primary key is what makes a credit happen only once.
applied_events = sa.Table(
    "applied_events",
    metadata,
    sa.Column("event_id", sa.String(100), primary_key=True),
    sa.Column("transaction_id", sa.String(36), sa.ForeignKey("transactions.id"), nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
    # Every token descending from one sign-in; reuse of a spent token revokes them all.
    sa.Column("family_id", sa.String(36), nullable=False),
    # SHA-256 of the token: a copy of the database does not hand out sessions.
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
    sa.Index("ix_refresh_tokens_family_id", "family_id"),
)


def new_id() -> str:
    """A new random UUID string."""
    return str(uuid.uuid4())


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


# -- users -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A stored user with the id of their account."""

    id: str
    phone_number: str
    password_hash: str
    date_of_birth: date | None
    is_active: bool
    is_admin: bool
    created_at: datetime
    account_id: str


_user_columns = (*users.c, accounts.c.id.label("account_id"))
_users_with_account = users.join(accounts, accounts.c.user_id == users.c.id)


def _user(row: Any) -> UserRecord:
    return UserRecord(
        id=row.id,
        phone_number=row.phone_number,
        password_hash=row.password_hash,
        date_of_birth=row.date_of_birth,
        is_active=bool(row.is_active),
        is_admin=bool(row.is_admin),
        created_at=row.created_at,
        account_id=row.account_id,
    )


async def insert_user_with_account(
    conn: AsyncConnection,
    *,
    phone_number: str,
    password_hash: str,
    date_of_birth: date | None = None,
    is_admin: bool = False,
) -> UserRecord:
    """Store a new active user and their empty account; IntegrityError if the phone is taken."""
    now = utc_now()
    user_id, account_id = new_id(), new_id()
    await conn.execute(
        users.insert().values(
            id=user_id,
            phone_number=phone_number,
            password_hash=password_hash,
            date_of_birth=date_of_birth,
            is_active=True,
            is_admin=is_admin,
            created_at=now,
        )
    )
    await conn.execute(
        accounts.insert().values(id=account_id, user_id=user_id, balance=0, created_at=now)
    )
    return UserRecord(
        user_id, phone_number, password_hash, date_of_birth, True, is_admin, now, account_id
    )


async def get_user(conn: AsyncConnection, user_id: str) -> UserRecord | None:
    """The user with this id, or None."""
    query = sa.select(*_user_columns).select_from(_users_with_account)
    row = (await conn.execute(query.where(users.c.id == user_id))).first()
    return _user(row) if row else None


async def get_user_by_phone(conn: AsyncConnection, phone_number: str) -> UserRecord | None:
    """The user with this (normalised) phone number, or None."""
    query = sa.select(*_user_columns).select_from(_users_with_account)
    row = (await conn.execute(query.where(users.c.phone_number == phone_number))).first()
    return _user(row) if row else None


async def set_password_hash(conn: AsyncConnection, user_id: str, password_hash: str) -> None:
    """Replace a user's password hash (after a rehash with stronger parameters)."""
    await conn.execute(
        users.update().where(users.c.id == user_id).values(password_hash=password_hash)
    )


async def make_admin(conn: AsyncConnection, user_id: str) -> None:
    """Give a user admin rights."""
    await conn.execute(users.update().where(users.c.id == user_id).values(is_admin=True))


# -- accounts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A stored account; ``balance`` in minor units."""

    id: str
    user_id: str
    balance: int
    created_at: datetime


def _account(row: Any) -> AccountRecord:
    return AccountRecord(row.id, row.user_id, int(row.balance), row.created_at)


async def get_account(conn: AsyncConnection, account_id: str) -> AccountRecord | None:
    """The account with this id, or None."""
    row = (await conn.execute(accounts.select().where(accounts.c.id == account_id))).first()
    return _account(row) if row else None


# Built once, like the hot path's statements below: a payment event's credit reads it.
_ACCOUNT_OF_USER = accounts.select().where(accounts.c.user_id == sa.bindparam("user_id"))


async def get_account_of_user(conn: AsyncConnection, user_id: str) -> AccountRecord | None:
    """The account of this user, or None."""
    row = (await conn.execute(_ACCOUNT_OF_USER, {"user_id": user_id})).first()
    return _account(row) if row else None


# The hot path's statements are built once: SQLAlchemy then reuses their cache keys and
# compiled forms instead of rebuilding and re-hashing an expression tree per request.
@functools.cache
def _lock_accounts_statement(count: int) -> sa.Select[Any]:
    # One placeholder per id (not an "expanding" IN, which is re-rendered on every call).
    ids: list[sa.BindParameter[str]] = [
        sa.bindparam(f"account_id_{index}") for index in range(count)
    ]
    return accounts.select().where(accounts.c.id.in_(ids)).order_by(accounts.c.id).with_for_update()


async def lock_accounts(conn: AsyncConnection, account_ids: list[str]) -> dict[str, AccountRecord]:
    """Read and lock these accounts for the rest of the transaction, always in id order.

    Taking row locks in one global order is what keeps two opposite transfers on
    PostgreSQL from deadlocking. (SQLite has no row locks: its write transactions are
    already serialized by ``BEGIN IMMEDIATE``.)
    """
    ids = sorted(set(account_ids))
    parameters = {f"account_id_{index}": account_id for index, account_id in enumerate(ids)}
    rows = await conn.execute(_lock_accounts_statement(len(ids)), parameters)
    return {row.id: _account(row) for row in rows}


# Every transfer runs this (see servicekit.prepared).
_MOVE_FUNDS = PreparedWrite(
    accounts.update()
    .where(
        accounts.c.id.in_((sa.bindparam("sender_id"), sa.bindparam("receiver_id"))),
        sa.or_(
            accounts.c.id != sa.bindparam("sender_id"),
            accounts.c.balance >= sa.bindparam("amount", type_=sa.BigInteger),
        ),
    )
    .values(
        balance=sa.case(
            (
                accounts.c.id == sa.bindparam("sender_id"),
                accounts.c.balance - sa.bindparam("amount"),
            ),
            else_=accounts.c.balance + sa.bindparam("amount"),
        )
    )
)


class FundsMoveIncomplete(RuntimeError):
    """A transfer's UPDATE did not touch exactly its two accounts (raise to roll back)."""


async def move_funds(conn: AsyncConnection, sender_id: str, receiver_id: str, amount: int) -> None:
    """Debit the sender and credit the receiver in one statement.

    The caller holds both accounts (``lock_accounts``) and checked that the sender's balance
    covers ``amount``; the statement checks it again, and FundsMoveIncomplete (which rolls
    the transaction back) is raised unless both rows changed.
    """
    changed = await _MOVE_FUNDS.execute(
        conn, {"sender_id": sender_id, "receiver_id": receiver_id, "amount": amount}
    )
    if changed != 2:
        raise FundsMoveIncomplete(f"moving funds changed {changed} accounts, not 2")


async def debit_if_covered(conn: AsyncConnection, account_id: str, amount: int) -> bool:
    """Take ``amount`` out of the account if the balance covers it; whether it did."""
    result = await conn.execute(
        accounts.update()
        .where(accounts.c.id == account_id, accounts.c.balance >= amount)
        .values(balance=accounts.c.balance - amount)
    )
    return result.rowcount == 1


# Every payment credit runs this (see servicekit.prepared).
_CREDIT = PreparedWrite(
    accounts.update()
    .where(accounts.c.id == sa.bindparam("account_id"))
    .values(balance=accounts.c.balance + sa.bindparam("amount", type_=sa.BigInteger))
)


async def credit(conn: AsyncConnection, account_id: str, amount: int) -> None:
    """Add ``amount`` to the account."""
    await _CREDIT.execute(conn, {"account_id": account_id, "amount": amount})


# -- transactions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """A stored ledger transaction; ``amount`` in minor units."""

    id: str
    sender_account_id: str | None
    receiver_account_id: str
    amount: int
    kind: str
    status: str
    description: str | None
    idempotency_key: str | None
    request_fingerprint: str | None
    created_at: datetime


def _transaction(row: Any) -> TransactionRecord:
    return TransactionRecord(
        id=row.id,
        sender_account_id=row.sender_account_id,
        receiver_account_id=row.receiver_account_id,
        amount=int(row.amount),
        kind=row.kind,
        status=row.status,
        description=row.description,
        idempotency_key=row.idempotency_key,
        request_fingerprint=row.request_fingerprint,
        created_at=row.created_at,
    )


# Every transfer runs this (see servicekit.prepared).
_INSERT_TRANSACTION = PreparedWrite(
    transactions.insert(),
    (
        "id", "sender_account_id", "receiver_account_id", "amount", "kind", "status",
        "description", "idempotency_key", "request_fingerprint", "created_at",
    ),
)  # fmt: skip


async def insert_transaction(
    conn: AsyncConnection,
    *,
    sender_account_id: str | None,
    receiver_account_id: str,
    amount: int,
    kind: str,
    status: str,
    description: str | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
) -> TransactionRecord:
    """Record a transaction (IntegrityError if the sender already used the idempotency key)."""
    record = TransactionRecord(
        id=new_id(),
        sender_account_id=sender_account_id,
        receiver_account_id=receiver_account_id,
        amount=amount,
        kind=kind,
        status=status,
        description=description,
        idempotency_key=idempotency_key,
        request_fingerprint=request_fingerprint,
        created_at=utc_now(),
    )
    await _INSERT_TRANSACTION.execute(
        conn,
        {
            "id": record.id,
            "sender_account_id": record.sender_account_id,
            "receiver_account_id": record.receiver_account_id,
            "amount": record.amount,
            "kind": record.kind,
            "status": record.status,
            "description": record.description,
            "idempotency_key": record.idempotency_key,
            "request_fingerprint": record.request_fingerprint,
            "created_at": record.created_at,
        },
    )
    return record


async def get_transaction(conn: AsyncConnection, transaction_id: str) -> TransactionRecord | None:
    """The transaction with this id, or None."""
    query = transactions.select().where(transactions.c.id == transaction_id)
    row = (await conn.execute(query)).first()
    return _transaction(row) if row else None


async def get_transaction_by_idempotency_key(
    conn: AsyncConnection, sender_account_id: str, key: str
) -> TransactionRecord | None:
    """The transaction the sender made with this idempotency key, or None."""
    query = transactions.select().where(
        transactions.c.sender_account_id == sender_account_id,
        transactions.c.idempotency_key == key,
    )
    row = (await conn.execute(query)).first()
    return _transaction(row) if row else None


async def list_account_transactions(
    conn: AsyncConnection,
    account_id: str,
    *,
    limit: int,
    before: tuple[datetime, str] | None = None,
) -> list[TransactionRecord]:
    """Transactions in or out of the account, newest first, strictly after the ``before`` cursor.

    The cursor is the (created_at, id) of the last item of the previous page.
    """
    t = transactions.c
    query = transactions.select().where(
        sa.or_(t.sender_account_id == account_id, t.receiver_account_id == account_id)
    )
    if before is not None:
        created_at, transaction_id = before
        query = query.where(
            sa.or_(
                t.created_at < created_at,
                sa.and_(t.created_at == created_at, t.id < transaction_id),
            )
        )
    query = query.order_by(t.created_at.desc(), t.id.desc()).limit(limit)
    return [_transaction(row) for row in await conn.execute(query)]


# -- applied payment events ------------------------------------------------------------------


_APPLIED_EVENT_TRANSACTION = sa.select(applied_events.c.transaction_id).where(
    applied_events.c.event_id == sa.bindparam("event_id")
)


async def applied_event_transaction(conn: AsyncConnection, event_id: str) -> str | None:
    """The id of the transaction an event was applied as, or None if it was not applied."""
    value: str | None = (
        await conn.execute(_APPLIED_EVENT_TRANSACTION, {"event_id": event_id})
    ).scalar()
    return value


_RECORD_APPLIED_EVENT = PreparedWrite(
    applied_events.insert(), ("event_id", "transaction_id", "applied_at")
)


async def record_applied_event(conn: AsyncConnection, event_id: str, transaction_id: str) -> None:
    """Remember that an event was applied (IntegrityError if it already was)."""
    await _RECORD_APPLIED_EVENT.execute(
        conn, {"event_id": event_id, "transaction_id": transaction_id, "applied_at": utc_now()}
    )


# -- refresh tokens --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    """A stored refresh token (its hash, never the token)."""

    id: str
    user_id: str
    family_id: str
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


async def insert_refresh_token(
    conn: AsyncConnection, *, user_id: str, family_id: str, token_hash: str, expires_at: datetime
) -> None:
    """Store a new refresh token by its hash."""
    await conn.execute(
        refresh_tokens.insert().values(
            id=new_id(),
            user_id=user_id,
            family_id=family_id,
            token_hash=token_hash,
            created_at=utc_now(),
            expires_at=expires_at,
        )
    )


async def spend_refresh_token(
    conn: AsyncConnection, token_hash: str, now: datetime
) -> RefreshTokenRecord | None:
    """Mark a live (unused, unrevoked, unexpired) token as used; None if it was not live.

    A conditional UPDATE, so two concurrent exchanges of one token cannot both succeed.
    """
    r = refresh_tokens.c
    result = await conn.execute(
        refresh_tokens.update()
        .where(
            r.token_hash == token_hash,
            r.used_at.is_(None),
            r.revoked_at.is_(None),
            r.expires_at > now,
        )
        .values(used_at=now)
    )
    if result.rowcount != 1:
        return None
    return await find_refresh_token(conn, token_hash)


async def find_refresh_token(conn: AsyncConnection, token_hash: str) -> RefreshTokenRecord | None:
    """The stored refresh token with this hash, whatever its state."""
    row = (
        await conn.execute(refresh_tokens.select().where(refresh_tokens.c.token_hash == token_hash))
    ).first()
    if row is None:
        return None
    return RefreshTokenRecord(
        row.id, row.user_id, row.family_id, row.expires_at, row.used_at, row.revoked_at
    )


async def revoke_refresh_family(conn: AsyncConnection, family_id: str, now: datetime) -> None:
    """Revoke every token of a sign-in (a spent token was presented again: it leaked)."""
    r = refresh_tokens.c
    await conn.execute(
        refresh_tokens.update()
        .where(r.family_id == family_id, r.revoked_at.is_(None))
        .values(revoked_at=now)
    )
