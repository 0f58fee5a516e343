"""Database wiring: one async SQLAlchemy engine per service, SQLite or PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and write transactions start with
``BEGIN IMMEDIATE`` so that several workers on one file queue up instead of failing
with "database is locked" halfway through. PostgreSQL uses asyncpg.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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

    def __init__(self, url: str, *, pool_size: int = 10, busy_timeout_ms: int = 30_000) -> None:
        self.url = async_database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._sqlite_writer = asyncio.Lock()
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_async_engine(self.url, pool_size=pool_size, max_overflow=0)
            _configure_sqlite(self.engine, busy_timeout_ms)
        else:
            self.engine = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction, committed on success and rolled back on any error."""
        if not self.is_sqlite:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        # SQLite has one writer at a time anyway. Queue this process's writers on an asyncio
        # lock, so that only one connection per process waits in SQLite's busy handler (which
        # sleeps in growing steps) and the rest wait cheaply and in order on the event loop.
        async with self._sqlite_writer, self.engine.connect() as conn:
            conn = await conn.execution_options(**{_IMMEDIATE: True})
            async with conn.begin():
                yield conn

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
