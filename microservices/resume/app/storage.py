"""Where resumes live: the tables (as the migrations create them) and every query on them.

A resume is one row of ``resumes``; its skills are stored twice, as a JSON list on the row
and case-folded in ``resume_skills`` (so the ``skill`` filter is an indexed lookup). The row
also keeps the resume's API document, so that reading a resume is one indexed lookup of two
columns and no encoding. All of them are written in the same transaction.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.model import Resume, ResumeDocument
from app.pagination import Position
from servicekit.db import Database

logger = logging.getLogger(__name__)

metadata = sa.MetaData()

resumes = sa.Table(
    "resumes",
    metadata,
    sa.Column("resume_id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(128), nullable=False, unique=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("summary", sa.Text(), nullable=True),
    sa.Column("skills", sa.Text(), nullable=False),
    sa.Column("experience", sa.Text(), nullable=True),
    sa.Column("education", sa.Text(), nullable=True),
    sa.Column("title_folded", sa.String(800), nullable=False),
    sa.Column("summary_folded", sa.Text(), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    # The API document of this version (Resume.to_json), so that a read sends it as stored.
    sa.Column("document", sa.Text(), nullable=False),
)

resume_skills = sa.Table(
    "resume_skills",
    metadata,
    sa.Column(
        "resume_id",
        sa.String(36),
        sa.ForeignKey("resumes.resume_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column("skill_folded", sa.String(200), nullable=False),
)

_RESUME_COLUMNS = (
    resumes.c.resume_id,
    resumes.c.user_id,
    resumes.c.title,
    resumes.c.summary,
    resumes.c.skills,
    resumes.c.experience,
    resumes.c.education,
    resumes.c.created_at,
    resumes.c.updated_at,
    resumes.c.version,
)
_DOCUMENT_COLUMNS = (resumes.c.document, resumes.c.version)
# Built once: the read path is hot, and SQLAlchemy caches the compiled form of this object.
_DOCUMENT_BY_ID = sa.select(*_DOCUMENT_COLUMNS).where(
    resumes.c.resume_id == sa.bindparam("resume_id")
)
_DOCUMENT_BY_USER = sa.select(*_DOCUMENT_COLUMNS).where(
    resumes.c.user_id == sa.bindparam("user_id")
)
_SELECT_BY_USER = sa.select(*_RESUME_COLUMNS).where(resumes.c.user_id == sa.bindparam("user_id"))


class DuplicateUser(Exception):
    """The user already has a resume (the unique constraint said so)."""


def _resume_from_row(row: Sequence[Any]) -> Resume:
    """A resume from the values of ``_RESUME_COLUMNS``, in that order."""
    (resume_id, user_id, title, summary, skills, experience, education) = row[:7]
    created_at, updated_at, version = row[7:]
    return Resume(
        resume_id=resume_id,
        user_id=user_id,
        title=title,
        summary=summary,
        skills=tuple(orjson.loads(skills)),
        experience=experience,
        education=education,
        created_at=created_at,
        updated_at=updated_at,
        version=version,
    )


def _row_values(resume: Resume) -> dict[str, Any]:
    return {
        "user_id": resume.user_id,
        "title": resume.title,
        "summary": resume.summary,
        "skills": json.dumps(list(resume.skills), ensure_ascii=False),
        "experience": resume.experience,
        "education": resume.education,
        "title_folded": resume.title.casefold(),
        "summary_folded": (resume.summary or "").casefold(),
        "created_at": resume.created_at,
        "updated_at": resume.updated_at,
        "version": resume.version,
        "document": resume.to_json().decode(),
    }


def _document_from_row(row: Sequence[Any]) -> ResumeDocument:
    document, version = row
    return ResumeDocument(document.encode(), version)


async def fetch_document(conn: AsyncConnection, resume_id: str) -> ResumeDocument | None:
    """The document of the resume with this id, or None."""
    row = (await conn.execute(_DOCUMENT_BY_ID, {"resume_id": resume_id})).first()
    return None if row is None else _document_from_row(row)


async def fetch_document_of_user(conn: AsyncConnection, user_id: str) -> ResumeDocument | None:
    """The document of this user's resume, or None."""
    row = (await conn.execute(_DOCUMENT_BY_USER, {"user_id": user_id})).first()
    return None if row is None else _document_from_row(row)


async def fetch_resume_for_update(conn: AsyncConnection, resume_id: str) -> Resume | None:
    """The resume with this id, locked until the transaction ends (PostgreSQL row lock;
    SQLite's write transaction already holds the database lock)."""
    statement = sa.select(*_RESUME_COLUMNS).where(resumes.c.resume_id == resume_id)
    row = (await conn.execute(statement.with_for_update())).first()
    return None if row is None else _resume_from_row(row)


async def fetch_resume_of_user(conn: AsyncConnection, user_id: str) -> Resume | None:
    """The resume of this user, or None."""
    row = (await conn.execute(_SELECT_BY_USER, {"user_id": user_id})).first()
    return None if row is None else _resume_from_row(row)


class ResumeReader:
    """The hot read path: one resume's document by id or by user, one indexed query.

    On SQLite the query runs on a plain ``sqlite3`` connection right on the event loop: a
    primary-key lookup takes microseconds, while handing it to aiosqlite's worker thread and
    back costs several thread switches, most of the request's time. WAL mode means readers
    never wait for writers; if SQLite is busy anyway (WAL recovery), the read does not block
    the loop (busy timeout 0) but goes the async way, which waits in a worker thread.
    PostgreSQL (asyncpg) is asynchronous already; there the lookup runs in autocommit.
    """

    _COLUMNS = ", ".join(column.name for column in _DOCUMENT_COLUMNS)
    _BY_ID = f"SELECT {_COLUMNS} FROM resumes WHERE resume_id = ?"  # noqa: S608 - our names
    _BY_USER = f"SELECT {_COLUMNS} FROM resumes WHERE user_id = ?"  # noqa: S608 - our names

    def __init__(self, db: Database) -> None:
        self._db = db
        self._sqlite: sqlite3.Connection | None = None
        path = make_url(db.url).database if db.is_sqlite else None
        if path and path != ":memory:":
            # Autocommit: each SELECT is its own consistent snapshot, no transaction is held.
            # Only ever used from the event loop's thread, one statement at a time.
            self._sqlite = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._sqlite.execute("PRAGMA busy_timeout=0")
            self._sqlite.execute("PRAGMA query_only=ON")

    # Plain methods handing back the lookup's coroutine: one coroutine per read, not two.
    def by_id(self, resume_id: str) -> Awaitable[ResumeDocument | None]:
        """The document of the resume with this id, or None."""
        return self._lookup(self._BY_ID, resume_id, fetch_document)

    def by_user(self, user_id: str) -> Awaitable[ResumeDocument | None]:
        """The document of this user's resume, or None."""
        return self._lookup(self._BY_USER, user_id, fetch_document_of_user)

    async def _lookup(
        self,
        sql: str,
        key: str,
        fetch: Callable[[AsyncConnection, str], Awaitable[ResumeDocument | None]],
    ) -> ResumeDocument | None:
        if self._sqlite is not None:
            try:
                row = self._sqlite.execute(sql, (key,)).fetchone()
            except sqlite3.OperationalError as exc:
                logger.info("fast read fell back to the async path", extra={"error": str(exc)})
            else:
                return None if row is None else _document_from_row(row)
        if self._db.is_sqlite:
            async with self._db.read() as conn:
                return await fetch(conn, key)
        # One statement needs no transaction: autocommit spares a BEGIN and a ROLLBACK.
        async with self._db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await fetch(conn, key)

    def close(self) -> None:
        """Close the synchronous connection, if any."""
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None


async def _write_skills(conn: AsyncConnection, resume: Resume) -> None:
    await conn.execute(resume_skills.delete().where(resume_skills.c.resume_id == resume.resume_id))
    if resume.skills:
        await conn.execute(
            resume_skills.insert(),
            [
                {"resume_id": resume.resume_id, "position": index, "skill_folded": skill.casefold()}
                for index, skill in enumerate(resume.skills)
            ],
        )


async def insert_resume(conn: AsyncConnection, resume: Resume) -> None:
    """Store a new resume; raises DuplicateUser if its user already has one."""
    try:
        # A savepoint, so that a lost race leaves the surrounding transaction usable.
        async with conn.begin_nested():
            await conn.execute(
                resumes.insert().values(resume_id=resume.resume_id, **_row_values(resume))
            )
    except IntegrityError as exc:
        raise DuplicateUser(resume.user_id) from exc
    await _write_skills(conn, resume)


async def update_resume(conn: AsyncConnection, resume: Resume) -> None:
    """Overwrite a stored resume with ``resume`` (same id)."""
    await conn.execute(
        resumes.update()
        .where(resumes.c.resume_id == resume.resume_id)
        .values(**_row_values(resume))
    )
    await _write_skills(conn, resume)


async def delete_resume(conn: AsyncConnection, resume_id: str) -> None:
    """Remove a resume and its skills."""
    await conn.execute(resume_skills.delete().where(resume_skills.c.resume_id == resume_id))
    await conn.execute(resumes.delete().where(resumes.c.resume_id == resume_id))


async def list_resumes(
    conn: AsyncConnection,
    *,
    limit: int,
    after: Position | None = None,
    offset: int = 0,
    skill: str | None = None,
    text: str | None = None,
) -> Sequence[Resume]:
    """Up to ``limit`` resumes in ``(created_at, resume_id)`` order.

    ``after`` starts strictly after a position (keyset), ``offset`` skips that many;
    ``skill`` keeps resumes having that skill and ``text`` those whose title or summary
    contains it (both compared case-folded).
    """
    statement = sa.select(*_RESUME_COLUMNS)
    if after is not None:
        # Spelled out rather than a row-value comparison so SQLite also uses the index.
        statement = statement.where(
            sa.or_(
                resumes.c.created_at > after.created_at,
                sa.and_(
                    resumes.c.created_at == after.created_at,
                    resumes.c.resume_id > after.resume_id,
                ),
            )
        )
    if skill is not None:
        having_skill = sa.select(resume_skills.c.resume_id).where(
            resume_skills.c.skill_folded == skill.casefold()
        )
        statement = statement.where(resumes.c.resume_id.in_(having_skill))
    if text is not None:
        folded = text.casefold()
        statement = statement.where(
            sa.or_(
                resumes.c.title_folded.contains(folded, autoescape=True),
                resumes.c.summary_folded.contains(folded, autoescape=True),
            )
        )
    statement = (
        statement.order_by(resumes.c.created_at, resumes.c.resume_id).offset(offset).limit(limit)
    )
    rows = (await conn.execute(statement)).all()
    return [_resume_from_row(row) for row in rows]
