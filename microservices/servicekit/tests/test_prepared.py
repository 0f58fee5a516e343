"""servicekit.prepared: hot writes through the driver store what SQLAlchemy's execute would."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from servicekit.db import Database, UTCDateTime
from servicekit.prepared import PreparedWrite

metadata = sa.MetaData()
entries = sa.Table(
    "entries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("tags", sa.JSON, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("settled_at", UTCDateTime, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
)
_COLUMNS = ("id", "amount", "note", "tags", "created_at", "settled_at")
_INSERT = PreparedWrite(entries.insert(), _COLUMNS)
_ADD = PreparedWrite(
    entries.update()
    .where(entries.c.id == sa.bindparam("entry_id"))
    .values(amount=entries.c.amount + sa.bindparam("delta", type_=sa.BigInteger))
)

# Values written in the statement (the note, the None, the amount compared) go as they are.
_SETTLE = PreparedWrite(
    entries.update()
    .where(entries.c.id == sa.bindparam("entry_id"), entries.c.amount > 1000)
    .values(note="settled", tags=None, settled_at=sa.bindparam("at", type_=UTCDateTime))
)


def _entry(entry_id: str, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": entry_id,
        "amount": 1250,
        "note": "caf\u00e9 \U0001f600",
        "tags": None,
        # Not UTC on purpose: both paths must store it as UTC.
        "created_at": datetime(
            2026, 12, 3, 11, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))
        ),
        "settled_at": None,
    }
    values.update(changes)
    return values


def _run(database_url: str, scenario: Callable[[Database], Awaitable[None]]) -> None:
    async def main() -> None:
        db = Database(database_url)
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
            await scenario(db)
        finally:
            await db.dispose()

    asyncio.run(main())


async def _stored(db: Database) -> list[tuple[Any, ...]]:
    """Every row as the database keeps it (through the driver, no type processing)."""
    async with db.read() as conn:
        result = await conn.exec_driver_sql(
            "SELECT id, amount, note, tags, created_at, settled_at, version"
            " FROM entries ORDER BY id"
        )
        return [tuple(row) for row in result]


def test_an_insert_stores_exactly_what_sqlalchemys_execute_stores(database_url: str) -> None:
    async def scenario(db: Database) -> None:
        rows = [
            _entry("a"),
            _entry("b", tags=["x", {"y": 1}], settled_at=datetime(2026, 12, 3, tzinfo=UTC)),
        ]
        async with db.transaction() as conn:
            for values in rows:
                await conn.execute(entries.insert(), {**values, "id": "sa-" + values["id"]})
                assert await _INSERT.execute(conn, {**values, "id": "pw-" + values["id"]}) == 1

        stored = await _stored(db)
        by_sqlalchemy = [row[1:] for row in stored if row[0].startswith("sa-")]
        prepared = [row[1:] for row in stored if row[0].startswith("pw-")]
        assert prepared == by_sqlalchemy
        async with db.read() as conn:
            created = (await conn.execute(sa.select(entries.c.created_at))).scalars().all()
        assert set(created) == {datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC)}

    _run(database_url, scenario)


def test_an_update_with_bind_parameters_says_how_many_rows_it_changed(database_url: str) -> None:
    async def scenario(db: Database) -> None:
        async with db.transaction() as conn:
            await _INSERT.execute_many(conn, [_entry("a"), _entry("b")])
            assert await _ADD.execute(conn, {"entry_id": "a", "delta": 50}) == 1
            assert await _ADD.execute(conn, {"entry_id": "nobody", "delta": 50}) == 0
        assert [row[1] for row in await _stored(db)] == [1300, 1250]

    _run(database_url, scenario)


def test_values_written_in_the_statement_are_sent_with_the_callers(database_url: str) -> None:
    async def scenario(db: Database) -> None:
        at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
        async with db.transaction() as conn:
            await _INSERT.execute_many(conn, [_entry("a", tags=["x"]), _entry("b", amount=5)])
            assert await _SETTLE.execute(conn, {"entry_id": "a", "at": at}) == 1
            assert await _SETTLE.execute(conn, {"entry_id": "b", "at": at}) == 0
        async with db.read() as conn:
            rows = (await conn.execute(sa.select(entries).order_by(entries.c.id))).all()
        assert [(row.note, row.tags, row.settled_at) for row in rows] == [
            ("settled", None, at),
            (_entry("b")["note"], None, None),
        ]

    _run(database_url, scenario)


def test_a_conflicting_insert_raises_sqlalchemys_integrity_error_and_rolls_back(
    database_url: str,
) -> None:
    async def scenario(db: Database) -> None:
        async with db.transaction() as conn:
            await _INSERT.execute(conn, _entry("a"))

        async def insert_b_then_a_again() -> None:
            async with db.transaction() as conn:
                await _INSERT.execute(conn, _entry("b"))
                await _INSERT.execute(conn, _entry("a"))

        with pytest.raises(IntegrityError):
            await insert_b_then_a_again()
        assert [row[0] for row in await _stored(db)] == ["a"]

    _run(database_url, scenario)


def test_while_another_process_writes_a_prepared_write_waits_its_turn(tmp_path: Path) -> None:
    # Then the transaction runs on aiosqlite's thread, not on the loop's own connection.
    async def scenario(db: Database) -> None:
        other_process = sqlite3.connect(tmp_path / "entries.db", isolation_level=None)
        try:
            other_process.execute("BEGIN IMMEDIATE")
            other_process.execute(
                "INSERT INTO entries (id, amount, created_at) VALUES ('theirs', 1, '2026-12-03')"
            )

            async def insert_ours() -> int:
                async with db.transaction() as conn:
                    return await _INSERT.execute(conn, _entry("ours"))

            writing = asyncio.create_task(insert_ours())
            await asyncio.sleep(0.3)
            assert not writing.done()
            other_process.execute("COMMIT")
            assert await asyncio.wait_for(writing, timeout=10) == 1
        finally:
            other_process.close()
        assert [row[0] for row in await _stored(db)] == ["ours", "theirs"]

    _run(f"sqlite:///{tmp_path / 'entries.db'}", scenario)


def test_a_missing_value_is_a_key_error_before_anything_runs() -> None:
    values = _entry("a")
    del values["settled_at"]
    with pytest.raises(KeyError, match="settled_at"):
        _INSERT.compiled_for(sa.create_engine("sqlite://").dialect).row(values)


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        (entries.insert().returning(entries.c.id), "RETURNING"),
        (entries.delete().where(entries.c.id.in_(sa.bindparam("ids", expanding=True))), "IN"),
    ],
    ids=["returning", "expanding-in"],
)
def test_statements_whose_rows_or_sql_depend_on_the_call_are_refused(
    statement: sa.Insert | sa.Delete, reason: str
) -> None:
    prepared = PreparedWrite(statement, _COLUMNS if isinstance(statement, sa.Insert) else ())
    with pytest.raises(TypeError, match=reason):
        prepared.compiled_for(sa.create_engine("sqlite://").dialect)
