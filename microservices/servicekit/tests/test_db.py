"""servicekit.db on SQLite: write transactions, with and without another process writing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from servicekit.db import Database

metadata = sa.MetaData()
notes = sa.Table(
    "notes", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text)
)


async def _database(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return db


async def _texts(db: Database) -> list[str]:
    async with db.read() as conn:
        return list((await conn.execute(sa.select(notes.c.text).order_by(notes.c.id))).scalars())


def test_a_write_waits_for_another_process_holding_the_write_lock(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path / "notes.db")
        other_process = sqlite3.connect(tmp_path / "notes.db", isolation_level=None)
        try:
            other_process.execute("BEGIN IMMEDIATE")
            other_process.execute("INSERT INTO notes (text) VALUES ('theirs')")

            async def write() -> None:
                async with db.transaction() as conn:
                    await conn.execute(sa.insert(notes).values(text="ours"))

            writing = asyncio.create_task(write())
            await asyncio.sleep(0.3)
            assert not writing.done()
            other_process.execute("COMMIT")
            await asyncio.wait_for(writing, timeout=10)
            assert await _texts(db) == ["theirs", "ours"]
        finally:
            other_process.close()
            await db.dispose()

    asyncio.run(scenario())


def test_a_write_that_fails_leaves_nothing_and_the_next_one_commits(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path / "notes.db")
        try:

            async def change_our_mind() -> None:
                async with db.transaction() as conn:
                    await conn.execute(sa.insert(notes).values(text="half"))
                    raise RuntimeError("changed our mind")

            with pytest.raises(RuntimeError):
                await change_our_mind()
            async with db.transaction() as conn:
                await conn.execute(sa.insert(notes).values(text="whole"))
                count = await conn.scalar(sa.select(sa.func.count()).select_from(notes))
            assert count == 1
            assert await _texts(db) == ["whole"]
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_savepoint_rolls_back_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path / "notes.db")
        try:
            async with db.transaction() as conn:
                await conn.execute(sa.insert(notes).values(id=1, text="kept"))
                with pytest.raises(sa.exc.IntegrityError):
                    async with conn.begin_nested():
                        await conn.execute(sa.insert(notes).values(id=1, text="duplicate"))
                await conn.execute(sa.insert(notes).values(id=2, text="after"))
            assert await _texts(db) == ["kept", "after"]
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_writers_go_in_arrival_order_and_other_work_runs_between_them(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path / "notes.db")
        happened: list[str] = []

        async def write(text: str) -> None:
            async with db.transaction() as conn:
                await conn.execute(sa.insert(notes).values(text=text))
                happened.append(text)

        async def serve_another_request() -> None:
            happened.append("another request")

        try:
            writers = [asyncio.create_task(write(text)) for text in ("first", "second", "third")]
            other = asyncio.create_task(serve_another_request())
            await asyncio.gather(*writers, other)
            # A transaction on the loop never yields by itself; without a turn for the rest,
            # one burst of writes would hold up every other request until it was done.
            assert happened == ["first", "another request", "second", "third"]
            assert await _texts(db) == ["first", "second", "third"]
        finally:
            await db.dispose()

    asyncio.run(scenario())
