"""Database wiring: one async SQLAlchemy engine per service, SQLite or PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and write transactions start with
``BEGIN IMMEDIATE`` so that several workers on one file queue up instead of failing
with "database is locked" halfway through. When this process gets SQLite's write lock at
once, the write transactions of a loop turn run on a synchronous connection right on the
event loop, each in a savepoint of one SQLite transaction that commits when the turn ends
(see ``Database.transaction``). PostgreSQL uses asyncpg.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

_IMMEDIATE = "sqlite_begin_immediate"
# Any constant works; it only has to be the same in every process running migrations.
_MIGRATION_LOCK_ID = 7_311_992


def async_database_url(url: str) -> str:
    """Map a plain URL (``sqlite:///x.db``, ``postgresql://...``) to its async driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed.render_as_string(hide_password=False)


def _apply_sqlite_pragmas(dbapi_connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # First: switching a new file to WAL needs its lock, which another process starting at
    # the same moment may hold (migrating); it should wait as long as any statement does.
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        _apply_sqlite_pragmas(dbapi_connection, busy_timeout_ms)

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        # On the worker thread: a write waits there in SQLite's busy handler, not on the loop.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class _InlineWriter:
    """A synchronous SQLite connection for write transactions that run right on the loop.

    When no other process is writing, ``BEGIN IMMEDIATE`` takes the lock at once and every
    statement of the transaction takes microseconds: calling SQLite directly then costs less
    than half of what SQLAlchemy's asyncio layer adds per statement (a greenlet, the driver
    adapter, a trip to aiosqlite's thread), and the write lock is held for less time. The one
    connection is used by one transaction at a time (``Database`` holds its writer lock).
    """

    def __init__(self, url: str, busy_timeout_ms: int) -> None:
        self.engine = sa.create_engine(
            make_url(url).set(drivername="sqlite"),
            pool_size=1,
            max_overflow=0,
            connect_args={"check_same_thread": False},
        )

        @event.listens_for(self.engine, "connect")
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            _apply_sqlite_pragmas(dbapi_connection, busy_timeout_ms)

        @event.listens_for(self.engine, "begin")
        def on_begin(conn: Connection) -> None:
            # Never wait in SQLite's busy handler here: that would block the event loop.
            driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
            driver.execute("PRAGMA busy_timeout=0")
            try:
                driver.execute("BEGIN IMMEDIATE")
            finally:
                driver.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")

    def begin(self) -> tuple[Connection, sa.RootTransaction] | None:
        """A connection in a write transaction, or None if another process holds the lock."""
        conn = self.engine.connect()
        try:
            return conn, conn.begin()
        except sqlite3.OperationalError as exc:  # raised by on_begin, as the driver raised it
            conn.close()
            # The low byte is the primary code of an extended one (SQLITE_BUSY_RECOVERY, ...).
            if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return None
            raise
        except BaseException:
            conn.close()
            raise


class WriteBatchLost(RuntimeError):
    """SQLite rolled back the transaction a write shared with others, before it committed."""


class _WriteBatch:
    """One SQLite transaction shared by the write transactions of a loop turn.

    Each of them runs in a savepoint; one COMMIT at the end of the turn makes them durable
    together. A write that fails rolls back to its savepoint and leaves the others alone.
    """

    __slots__ = ("commit_due", "conn", "driver", "in_unit", "transaction", "units", "waiters")

    def __init__(self, conn: Connection, transaction: sa.RootTransaction) -> None:
        self.conn = conn
        self.transaction = transaction
        self.units = 0
        self.driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        # One future per write that finished in this batch, resolved by the commit.
        self.waiters: list[asyncio.Future[None]] = []
        # A write of this batch is running (it may be waiting on something, holding SQLite's
        # write lock): the commit waits for it to finish.
        self.in_unit = False
        self.commit_due = False

    def start_unit(self) -> None:
        self.driver.execute("SAVEPOINT write_unit")
        self.in_unit = True
        self.units += 1

    def keep_unit(self) -> None:
        self.driver.execute("RELEASE write_unit")

    def commit_waiter(self) -> asyncio.Future[None]:
        """A future that resolves when the batch commits (or fails with WriteBatchLost)."""
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return waiter

    def undo_unit(self) -> bool:
        """Roll the unit back; False if the whole transaction is lost (SQLite rolled it back)."""
        if not self.driver.in_transaction:
            return False
        try:
            self.driver.execute("ROLLBACK TO write_unit")
            self.driver.execute("RELEASE write_unit")
        except sqlite3.Error:
            return False
        return True

    def finish(self, outcome: BaseException | None) -> None:
        """End the transaction (commit unless ``outcome`` is an error) and tell the writes."""
        try:
            if outcome is None:
                self.transaction.commit()
            else:
                self.transaction.rollback()
        except Exception as exc:
            outcome = exc
        finally:
            self.conn.close()
        for waiter in self.waiters:
            if waiter.done():  # its task was cancelled; the write is committed all the same
                continue
            if outcome is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(WriteBatchLost(f"the write was not committed: {outcome}"))


class _BatchAdmission:
    """Lets at most ``size`` writes into each write batch, in arrival order.

    A turn's writes share a commit, but each still costs its own time on the loop: letting a
    burst of them all into one turn makes that turn long, and what else waits on the loop
    (new connections take several turns to set up) waits for all of it. The rest queue here
    and go into the next batches, oldest first.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._waiting: deque[asyncio.Future[None]] = deque()
        # Let in by admit() but not yet started: their places in the next batch are theirs.
        self._admitted = 0

    def has_room(self, batch: _WriteBatch | None) -> bool:
        """Whether a write arriving now may go ahead without queueing."""
        if self._waiting:
            return False
        return batch is None or batch.units + self._admitted < self.size

    async def wait(self) -> None:
        """Queue until admit() lets this write in."""
        admitted = asyncio.get_running_loop().create_future()
        self._waiting.append(admitted)
        try:
            await admitted
        except asyncio.CancelledError:
            if admitted.cancelled():
                if admitted in self._waiting:  # admit() drops cancelled ones as it goes
                    self._waiting.remove(admitted)
            else:  # let in, then cancelled before it could go: its place is free again
                self._admitted -= 1
                self.admit(1)
            raise
        self._admitted -= 1

    def admit(self, count: int) -> None:
        """Let the ``count`` oldest waiting writes in."""
        while count and self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._admitted += 1
                count -= 1


class _InlineConnection(AsyncConnection):
    """The AsyncConnection interface over a synchronous connection, without the greenlet.

    Only for a connection whose statements never wait (``_InlineWriter``'s): each call runs
    to completion right here. Methods not overridden still work, through SQLAlchemy's
    greenlet bridge.
    """

    __slots__ = ()

    async def execute(
        self,
        statement: Any,
        parameters: Any = None,
        *,
        execution_options: Any = None,
    ) -> Any:
        return self._proxied.execute(statement, parameters, execution_options=execution_options)

    async def scalar(
        self,
        statement: Any,
        parameters: Any = None,
        *,
        execution_options: Any = None,
    ) -> Any:
        return self._proxied.scalar(statement, parameters, execution_options=execution_options)

    async def exec_driver_sql(
        self,
        statement: str,
        parameters: Any = None,
        execution_options: Any = None,
    ) -> Any:
        return self._proxied.exec_driver_sql(statement, parameters, execution_options)

    def write_through_driver(self, sql: str, parameters: Any, *, many: bool = False) -> int:
        """Run a write right on the sqlite3 connection; how many rows it changed.

        For ``servicekit.prepared``: its SQL and parameters are the driver's already, and
        without SQLAlchemy's execution context a small INSERT costs a third less. Failures
        raise what SQLAlchemy would (``IntegrityError``, ...).
        """
        driver: sqlite3.Connection = self._proxied.connection.driver_connection  # type: ignore[assignment]
        try:
            cursor = (
                driver.executemany(sql, parameters) if many else driver.execute(sql, parameters)
            )
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, parameters, exc, sqlite3.Error) from exc
        return cursor.rowcount


class _OneHopCursor:
    """An aiosqlite-style cursor that costs one trip to the connection's thread per statement.

    aiosqlite's own cursor makes SQLAlchemy hop to the worker thread and back four times per
    statement (open cursor, execute, fetch, close). Each hop waits for the GIL behind whatever
    the event loop is running, and inside a write transaction every wait holds SQLite's write
    lock. Here one call on the worker thread executes, fetches every row and closes.
    """

    arraysize = 1

    def __init__(self, connection: _OneHopConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> _OneHopCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> _OneHopCursor:
        """Run one statement on the worker thread and buffer its rows."""
        args: Any = () if parameters is None else parameters
        result = await self._connection.run_on_thread(_execute_and_fetch, sql, args, False)
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> _OneHopCursor:
        """Run one statement for each set of parameters, in one trip."""
        result = await self._connection.run_on_thread(_execute_and_fetch, sql, parameters, True)
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def fetchone(self) -> Any:
        """The next buffered row, or None."""
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to ``size`` buffered rows."""
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def fetchall(self) -> list[Any]:
        """Every remaining buffered row."""
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        """Drop the buffered rows (the driver cursor was closed on the worker thread)."""
        self._rows = []


def _execute_and_fetch(
    connection: sqlite3.Connection, sql: str, parameters: Any, many: bool
) -> tuple[Any, int, int | None, list[Any]]:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        # Read after fetching: for UPDATE ... RETURNING the count is final only then.
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class _OneHopConnection(aiosqlite.Connection):
    """aiosqlite's connection with one-trip cursors, and no trip for a no-op rollback."""

    def cursor(self) -> Any:  # aiosqlite's is an awaitable context manager; so is ours
        return _OneHopCursor(self)

    async def run_on_thread(self, function: Any, *args: Any) -> Any:
        """Call ``function(sqlite3_connection, *args)`` on the connection's worker thread."""
        return await self._execute(function, self._conn, *args)  # type: ignore[no-untyped-call]

    async def commit(self) -> None:
        await self.run_on_thread(_commit)

    async def rollback(self) -> None:
        # The pool rolls back every connection it gets back, almost always after a COMMIT.
        # The flag is a plain read; the worker thread is idle between our calls.
        if self._conn.in_transaction:
            await self.run_on_thread(_rollback)


def _commit(connection: sqlite3.Connection) -> None:
    connection.commit()


def _rollback(connection: sqlite3.Connection) -> None:
    connection.rollback()


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (stored naive, in UTC) and PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass UTC-aware ones")
        value = value.astimezone(UTC)
        # SQLite keeps text; a fixed naive-UTC form keeps that text sortable.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Database:
    """A service's database: connections, transactions, migrations and a health probe."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        busy_timeout_ms: int = 30_000,
        write_batch_size: int = 8,
    ) -> None:
        self.url = async_database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._sqlite_writer = asyncio.Lock()
        self._inline_writer: _InlineWriter | None = None
        self._write_batch: _WriteBatch | None = None
        self._admission = _BatchAdmission(write_batch_size)
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                self._inline_writer = _InlineWriter(self.url, busy_timeout_ms)
            self.engine = create_async_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=0,
                async_creator=self._connect_sqlite,
            )
            _configure_sqlite(self.engine, busy_timeout_ms)
            # Same pool; its connections begin with BEGIN IMMEDIATE (see _configure_sqlite).
            self._sqlite_writes = self.engine.execution_options(**{_IMMEDIATE: True})
        else:
            self.engine = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )

    async def _connect_sqlite(self) -> _OneHopConnection:
        # The very arguments SQLAlchemy's aiosqlite dialect would pass to sqlite3.connect.
        engine = self.engine.sync_engine
        args, kwargs = engine.dialect.create_connect_args(engine.url)

        # Used by one task at a time, from the worker thread (and closed from any thread).
        kwargs["check_same_thread"] = False

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(*args, **kwargs)  # type: ignore[call-overload,no-any-return]

        connection = _OneHopConnection(connect, 64)
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
        await connection
        return connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction, committed on success and rolled back on any error.

        When the block exits without an error, its writes are committed. On SQLite they may
        share that commit with other writes of the same loop turn (up to
        ``write_batch_size`` of them): each runs alone in a savepoint, and a failing one
        rolls back only its own. Should the shared commit fail, every write in it raises
        ``WriteBatchLost``. A task cancelled while its block waits for the commit is
        cancelled; its writes are committed all the same.
        """
        if not self.is_sqlite:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        # SQLite has one writer at a time anyway. Queue this process's writers on an asyncio
        # lock, so that only one connection per process waits in SQLite's busy handler (which
        # sleeps in growing steps) and the rest wait cheaply and in order on the event loop.
        # A commit writes every page the transaction changed to the WAL and costs as much as
        # the rest of a small transaction: one per turn instead of one per write.
        if not self._admission.has_room(self._write_batch):
            await self._admission.wait()
        async with self._sqlite_writer:
            batch = self._write_batch or self._begin_write_batch()
            if batch is None:
                # Another process is writing (or the database is in memory): wait for the
                # lock on aiosqlite's thread.
                try:
                    async with self._sqlite_writes.connect() as conn, conn.begin():
                        yield conn
                finally:
                    self._admission.admit(1)
                return
            batch.start_unit()
            try:
                yield _InlineConnection(self.engine, batch.conn)
                batch.keep_unit()
            except BaseException as exc:
                if not batch.undo_unit():
                    self._end_write_batch(batch, exc)
                raise
            else:
                committed = batch.commit_waiter()
            finally:
                batch.in_unit = False
                if batch.commit_due:
                    self._end_write_batch(batch)
        await committed

    def _begin_write_batch(self) -> _WriteBatch | None:
        """Open the transaction this turn's writes share, or None if the lock is taken."""
        begun = self._inline_writer.begin() if self._inline_writer is not None else None
        if begun is None:
            return None
        batch = self._write_batch = _WriteBatch(*begun)
        # Queued behind the callbacks of this turn: every write they start joins the batch.
        asyncio.get_running_loop().call_soon(self._turn_ended, batch)
        return batch

    def _turn_ended(self, batch: _WriteBatch) -> None:
        if batch.in_unit:  # a write is waiting on something mid-transaction: commit after it
            batch.commit_due = True
        else:
            self._end_write_batch(batch)

    def _end_write_batch(self, batch: _WriteBatch, failure: BaseException | None = None) -> None:
        if self._write_batch is batch:
            self._write_batch = None
            batch.finish(failure)
            self._admission.admit(self._admission.size)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only unit of work: a consistent snapshot, never holding the write lock."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def ping(self) -> None:
        """Raise if the database cannot answer ``SELECT 1``."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def migrate(self, script_location: Path) -> None:
        """Apply the service's Alembic migrations up to head, one process at a time."""
        async with self.transaction() as conn:
            if not self.is_sqlite:
                # Several replicas may start together; only one migrates, the rest wait.
                await conn.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})"))
            await conn.run_sync(_upgrade_to_head, script_location)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self._inline_writer is not None:
            self._inline_writer.engine.dispose()
        await self.engine.dispose()


def _upgrade_to_head(connection: Connection, script_location: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def run_migrations_in_env(target_metadata: Any = None) -> None:
    """Body of every service's ``migrations/env.py``: migrate on the connection we pass in."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through Database.migrate(), which passes a connection")
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
