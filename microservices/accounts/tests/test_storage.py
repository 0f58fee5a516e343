"""Storage rules that hold below the API: checked straight against the database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import pytest
from sqlalchemy.exc import IntegrityError

from app import storage
from app.main import MIGRATIONS
from servicekit.db import Database

T = TypeVar("T")


def run_on(database_url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Migrate a fresh database, run ``work`` on it, close it."""

    async def main() -> T:
        db = Database(database_url)
        try:
            await db.migrate(MIGRATIONS)
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


def test_a_balance_cannot_go_negative_even_by_a_direct_update(database_url: str) -> None:
    async def work(db: Database) -> None:
        async with db.transaction() as conn:
            user = await storage.insert_user_with_account(
                conn, phone_number="+15550100001", password_hash="x"
            )
        with pytest.raises(IntegrityError):
            async with db.transaction() as conn:
                await conn.execute(
                    storage.accounts.update()
                    .where(storage.accounts.c.id == user.account_id)
                    .values(balance=-1)
                )

    run_on(database_url, work)


def test_the_conditional_debit_refuses_what_the_balance_does_not_cover(database_url: str) -> None:
    async def work(db: Database) -> tuple[bool, bool, int]:
        async with db.transaction() as conn:
            user = await storage.insert_user_with_account(
                conn, phone_number="+15550100002", password_hash="x"
            )
            await storage.credit(conn, user.account_id, 500)
            too_much = await storage.debit_if_covered(conn, user.account_id, 501)
            exact = await storage.debit_if_covered(conn, user.account_id, 500)
            account = await storage.get_account(conn, user.account_id)
        assert account is not None
        return too_much, exact, account.balance

    assert run_on(database_url, work) == (False, True, 0)


def test_timestamps_come_back_aware_and_in_utc(database_url: str) -> None:
    async def work(db: Database) -> None:
        async with db.transaction() as conn:
            created = await storage.insert_user_with_account(
                conn, phone_number="+15550100003", password_hash="x"
            )
        async with db.read() as conn:
            loaded = await storage.get_user(conn, created.id)
        assert loaded is not None
        assert loaded.created_at.utcoffset() == timedelta(0)
        assert abs(loaded.created_at - created.created_at) < timedelta(milliseconds=1)

    run_on(database_url, work)


def test_an_expired_refresh_token_cannot_be_spent(database_url: str) -> None:
    async def work(db: Database) -> None:
        now = storage.utc_now()
        async with db.transaction() as conn:
            user = await storage.insert_user_with_account(
                conn, phone_number="+15550100004", password_hash="x"
            )
            await storage.insert_refresh_token(
                conn,
                user_id=user.id,
                family_id="f",
                token_hash="h" * 64,
                expires_at=now + timedelta(seconds=60),
            )
            assert await storage.spend_refresh_token(conn, "h" * 64, now + timedelta(61)) is None
            assert await storage.spend_refresh_token(conn, "h" * 64, now) is not None

    run_on(database_url, work)
