"""servicekit.db on SQLite: write transactions, with and without another process writing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from servicekit.db import Database, WriteBatchLost

metadata = sa.MetaData()
notes = sa.Table(
    "notes", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text)
)


async def _database(path: Path, **options: int) -> Database:
    db = Database(f"sqlite:///{path}", **options)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return db


async def _write(db: Database, text: str) -> None:
    """One note, in a write transaction of its own."""
    async with db.transaction() as conn:
        await conn.execute(sa.insert(notes).values(text=text))


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

            writing = asyncio.create_task(_write(db, "ours"))
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


def _count_commits(db: Database) -> list[int]:
    """A one-item list counting the commits of ``db``'s on-loop writes."""
    commits = [0]
    assert db._inline_writer is not None

    @sa.event.listens_for(db._inline_writer.engine, "commit")
    def on_commit(_conn: object) -> None:
        commits[0] += 1

    return commits


def test_the_writes_of_one_turn_share_a_commit_and_each_returns_once_committed(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path / "notes.db")
        commits = _count_commits(db)
        seen_on_return: dict[str, list[str]] = {}

        async def write(text: str) -> None:
            await _write(db, text)
            seen_on_return[text] = await _texts(db)

        try:
            await asyncio.gather(*(write(text) for text in ("first", "second", "third")))
            assert commits == [1]
            assert await _texts(db) == ["first", "second", "third"]
            for text, seen in seen_on_return.items():
                assert text in seen  # committed, as another connection sees it
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_failing_write_rolls_back_alone_when_it_shares_the_commit(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path / "notes.db")
        commits = _count_commits(db)

        async def write(text: str, *, fail: bool = False) -> None:
            async with db.transaction() as conn:
                await conn.execute(sa.insert(notes).values(text=text))
                await conn.execute(sa.insert(notes).values(text=f"{text}, again"))
                if fail:
                    raise RuntimeError("changed our mind")

        try:
            outcomes = await asyncio.gather(
                write("before"), write("failing", fail=True), write("after"),
                return_exceptions=True,
            )  # fmt: skip
            assert [type(outcome) for outcome in outcomes] == [
                type(None), RuntimeError, type(None)
            ]  # fmt: skip
            assert commits == [1]
            assert await _texts(db) == ["before", "before, again", "after", "after, again"]
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_burst_of_writes_goes_in_batches_in_arrival_order_with_other_work_between(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path / "notes.db", write_batch_size=2)
        commits = _count_commits(db)
        happened: list[str] = []

        async def write(text: str) -> None:
            async with db.transaction() as conn:
                await conn.execute(sa.insert(notes).values(text=text))
                happened.append(text)

        async def serve_another_request() -> None:
            await asyncio.sleep(0)
            happened.append("another request")

        try:
            texts = [f"write {n}" for n in range(1, 6)]
            await asyncio.gather(*(write(text) for text in texts), serve_another_request())
            # A turn holds as many writes as a batch: what else waits on the loop (setting
            # up new connections takes several turns) does not wait for the whole burst.
            assert happened[:3] == ["write 1", "write 2", "another request"]
            assert [entry for entry in happened if entry.startswith("write")] == texts
            assert commits == [3]
            assert await _texts(db) == texts
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_write_that_waits_mid_transaction_holds_the_shared_commit_back(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path / "notes.db")
        halfway = asyncio.Event()
        go_on = asyncio.Event()

        async def slow_write() -> None:
            async with db.transaction() as conn:
                await conn.execute(sa.insert(notes).values(text="slow, first half"))
                halfway.set()
                await go_on.wait()
                await conn.execute(sa.insert(notes).values(text="slow, second half"))

        try:
            quick_first = asyncio.create_task(_write(db, "quick"))
            slow = asyncio.create_task(slow_write())
            await halfway.wait()
            await asyncio.sleep(0.05)
            # The turn ended with the slow write half done: committing then would have
            # committed half of it. Nothing is committed until it is done.
            assert await _texts(db) == []
            assert not quick_first.done()
            queued = asyncio.create_task(_write(db, "quick"))
            go_on.set()
            await asyncio.gather(quick_first, slow, queued)
            assert await _texts(db) == ["quick", "slow, first half", "slow, second half", "quick"]
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_when_sqlite_drops_the_shared_transaction_every_write_in_it_fails(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path / "notes.db")

        async def write_then_lose_the_transaction() -> None:
            async with db.transaction() as conn:
                await conn.execute(sa.insert(notes).values(text="doomed"))
                # What SQLite does by itself on some errors (SQLITE_FULL, SQLITE_IOERR, ...).
                await conn.exec_driver_sql("ROLLBACK")
                raise sqlite3.OperationalError("database or disk is full")

        try:
            outcomes = await asyncio.gather(
                _write(db, "done before"), write_then_lose_the_transaction(), return_exceptions=True
            )
            assert isinstance(outcomes[0], WriteBatchLost)
            assert isinstance(outcomes[1], sqlite3.OperationalError)
            assert await _texts(db) == []
            await _write(db, "next")  # the next write gets a transaction of its own
            assert await _texts(db) == ["next"]
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_write_cancelled_while_its_commit_is_pending_is_committed_all_the_same(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path / "notes.db")
        reached_commit = asyncio.Event()

        async def write(text: str) -> None:
            async with db.transaction() as conn:
                await conn.execute(sa.insert(notes).values(text=text))
                reached_commit.set()

        try:
            cancelled = asyncio.create_task(write("cancelled"))
            kept = asyncio.create_task(write("kept"))
            await reached_commit.wait()
            cancelled.cancel()
            await kept
            with pytest.raises(asyncio.CancelledError):
                await cancelled
            assert await _texts(db) == ["cancelled", "kept"]
        finally:
            await db.dispose()

    asyncio.run(scenario())


def test_a_write_cancelled_while_queued_for_a_batch_leaves_the_queue_moving(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        db = await _database(tmp_path / "notes.db", write_batch_size=1)

        try:
            writes = [asyncio.create_task(_write(db, text)) for text in ("a", "b", "c", "d")]
            await asyncio.sleep(0)  # "a" is in the batch; the rest queue
            writes[1].cancel()
            writes[2].cancel()
            outcomes = await asyncio.wait_for(
                asyncio.gather(*writes, return_exceptions=True), timeout=5
            )
            assert [type(outcome) for outcome in outcomes] == [
                type(None), asyncio.CancelledError, asyncio.CancelledError, type(None)
            ]  # fmt: skip
            assert await _texts(db) == ["a", "d"]
        finally:
            await db.dispose()

    asyncio.run(scenario())
