"""The resume operations without HTTP, on a real database: races are decided by the database."""

import asyncio
import sqlite3
from pathlib import Path

import pytest

from app import resumes
from app.main import MIGRATIONS
from app.model import Resume, ResumeDocument
from app.schemas import ResumeChanges, ResumeCreate
from app.storage import ResumeReader
from servicekit.auth import Principal
from servicekit.db import Database

OWNER = Principal(user_id="owner-1", phone_number=None, is_admin=False, claims={})


async def _database(database_url: str) -> Database:
    db = Database(database_url)
    await db.migrate(MIGRATIONS)
    return db


def test_concurrent_creates_for_one_user_store_one_resume(database_url: str) -> None:
    async def scenario() -> list[object]:
        db = await _database(database_url)
        try:
            results = await asyncio.gather(
                *(
                    resumes.create_resume(db, ResumeCreate(title=f"Try {n}"), OWNER)
                    for n in range(4)
                ),
                return_exceptions=True,
            )
            page = await resumes.list_resumes(db, limit=10)
            assert len(page.items) == 1
            return list(results)
        finally:
            await db.dispose()

    results = asyncio.run(scenario())

    assert sum(isinstance(r, Resume) for r in results) == 1
    assert sum(isinstance(r, resumes.ResumeAlreadyExists) for r in results) == 3


def test_concurrent_writers_with_the_same_etag_cannot_both_win(database_url: str) -> None:
    async def scenario() -> list[object]:
        db = await _database(database_url)
        try:
            created = await resumes.create_resume(db, ResumeCreate(title="Start"), OWNER)
            return list(
                await asyncio.gather(
                    *(
                        resumes.change_resume(
                            db,
                            created.resume_id,
                            ResumeChanges(title=f"Edit {n}"),
                            OWNER,
                            if_match=created.etag,
                        )
                        for n in range(4)
                    ),
                    return_exceptions=True,
                )
            )
        finally:
            await db.dispose()

    results = asyncio.run(scenario())

    assert sum(isinstance(r, Resume) for r in results) == 1
    assert sum(isinstance(r, resumes.PreconditionFailed) for r in results) == 3


def test_an_unknown_resume_id_is_not_found_without_a_query(tmp_path: Path) -> None:
    async def scenario() -> None:
        # Never migrated: a query would fail with "no such table", not ResumeNotFound.
        db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        reader = ResumeReader(db)
        try:
            with pytest.raises(resumes.ResumeNotFound):
                await resumes.get_resume(reader, "not-a-uuid")
        finally:
            reader.close()
            await db.dispose()

    asyncio.run(scenario())


class _BusySQLite:
    """Stands in for a sqlite3 connection that finds the database locked."""

    def execute(self, *_args: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    def close(self) -> None:
        pass


def test_a_busy_fast_read_falls_back_to_the_async_path(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await _database(f"sqlite:///{tmp_path / 'busy.db'}")
        reader = ResumeReader(db)
        try:
            created = await resumes.create_resume(db, ResumeCreate(title="Start"), OWNER)
            reader._sqlite = _BusySQLite()  # type: ignore[assignment]

            expected = ResumeDocument(created.to_json(), created.version)
            assert await resumes.get_resume(reader, created.resume_id) == expected
            assert await resumes.get_resume_of_user(reader, OWNER.user_id) == expected
        finally:
            reader.close()
            await db.dispose()

    asyncio.run(scenario())
