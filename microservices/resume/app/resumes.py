"""Operations on stored resumes: create, read, change, delete, list. No HTTP in here.

Every write reads the current row inside its transaction (locked on PostgreSQL, under the
write lock on SQLite), checks ownership and the caller's If-Match against it, and writes the
result, so two concurrent writers can never both win with stale data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from app import storage
from app.model import (
    Resume,
    ResumeDocument,
    apply_changes,
    could_be_resume_id,
    could_be_user_id,
    may_act_for,
    new_resume,
    utc_timestamp,
)
from app.pagination import Position, encode_cursor
from app.preconditions import if_match_satisfied
from app.schemas import ResumeChanges, ResumeCreate
from servicekit.auth import Principal
from servicekit.db import Database
from servicekit.errors import ClientError


class ResumeError(ClientError):
    """A request about resumes that cannot be carried out (answered with its status)."""


class ResumeNotFound(ResumeError):
    """No resume has that id (or that user has none)."""

    status_code = 404
    detail = "Resume not found"


class ResumeAlreadyExists(ResumeError):
    """The user already has a resume: each user has at most one."""

    status_code = 400

    def __init__(self, user_id: str, resume_id: str | None) -> None:
        where = f" ({resume_id})" if resume_id else ""
        super().__init__(
            f"This user already has a resume{where}; change it with PUT or PATCH instead"
        )
        self.user_id = user_id
        self.resume_id = resume_id


class NotAllowed(ResumeError):
    """The caller is neither the resume's owner nor an admin."""

    status_code = 403
    detail = "Only the resume's owner or an admin may do this"


class PreconditionFailed(ResumeError):
    """The caller's If-Match names a version that is no longer current."""

    status_code = 412

    def __init__(self, current: Resume) -> None:
        super().__init__(
            f"The resume has changed (its ETag is now {current.etag}); fetch it again and retry",
            headers={"ETag": current.etag},
        )
        self.current = current


async def create_resume(db: Database, data: ResumeCreate, actor: Principal) -> Resume:
    """Store a new resume for ``data.user_id`` (the caller when omitted).

    Only the user themselves or an admin may create it; a second resume for the same user
    raises ResumeAlreadyExists.
    """
    user_id = data.user_id or actor.user_id
    if not may_act_for(actor, user_id):
        raise NotAllowed()
    resume = new_resume(data, user_id, utc_timestamp())
    async with db.transaction() as conn:
        existing = await storage.fetch_resume_of_user(conn, user_id)
        if existing is not None:
            raise ResumeAlreadyExists(user_id, existing.resume_id)
        try:
            await storage.insert_resume(conn, resume)
        except storage.DuplicateUser:
            # Lost a race with a concurrent create (PostgreSQL); the constraint decided.
            raise ResumeAlreadyExists(user_id, None) from None
    return resume


async def get_resume(reader: storage.ResumeReader, resume_id: str) -> ResumeDocument:
    """The document of the resume with this id; raises ResumeNotFound."""
    if not could_be_resume_id(resume_id):
        raise ResumeNotFound()
    document = await reader.by_id(resume_id)
    if document is None:
        raise ResumeNotFound()
    return document


async def get_resume_of_user(reader: storage.ResumeReader, user_id: str) -> ResumeDocument:
    """The document of this user's resume; raises ResumeNotFound."""
    if not could_be_user_id(user_id):
        raise ResumeNotFound()
    document = await reader.by_user(user_id)
    if document is None:
        raise ResumeNotFound()
    return document


async def change_resume(
    db: Database,
    resume_id: str,
    changes: ResumeChanges,
    actor: Principal,
    *,
    if_match: str | None = None,
) -> Resume:
    """Apply ``changes`` to a resume the caller owns (or any, for an admin).

    Raises ResumeNotFound, NotAllowed, or PreconditionFailed when ``if_match`` is stale.
    """
    if not could_be_resume_id(resume_id):
        raise ResumeNotFound()
    async with db.transaction() as conn:
        current = await _resume_to_write(conn, resume_id, actor, if_match)
        changed = apply_changes(current, changes, utc_timestamp())
        if changed is not current:
            await storage.update_resume(conn, changed)
    return changed


async def delete_resume(
    db: Database, resume_id: str, actor: Principal, *, if_match: str | None = None
) -> None:
    """Delete a resume the caller owns (or any, for an admin).

    Raises ResumeNotFound, NotAllowed, or PreconditionFailed when ``if_match`` is stale.
    """
    if not could_be_resume_id(resume_id):
        raise ResumeNotFound()
    async with db.transaction() as conn:
        await _resume_to_write(conn, resume_id, actor, if_match)
        await storage.delete_resume(conn, resume_id)


async def _resume_to_write(
    conn: AsyncConnection, resume_id: str, actor: Principal, if_match: str | None
) -> Resume:
    """The resume, locked, once the actor may write it and ``if_match`` holds; raises else."""
    current = await storage.fetch_resume_for_update(conn, resume_id)
    if current is None:
        raise ResumeNotFound()
    if not may_act_for(actor, current.user_id):
        raise NotAllowed()
    if not if_match_satisfied(if_match, current.etag):
        raise PreconditionFailed(current)
    return current


@dataclass(frozen=True, slots=True)
class ResumePage:
    """One page of a listing, and the cursor of the next page (None on the last one)."""

    items: Sequence[Resume]
    next_cursor: str | None


async def list_resumes(
    db: Database,
    *,
    limit: int,
    after: Position | None = None,
    offset: int = 0,
    skill: str | None = None,
    text: str | None = None,
) -> ResumePage:
    """A page of resumes, oldest first, optionally filtered by skill and by text.

    ``after`` (a decoded cursor) and ``offset`` choose where the page starts; either way the
    next page is offered as a cursor, which stays correct while resumes are being added.
    """
    async with db.read() as conn:
        # One extra row tells whether another page follows without a COUNT query.
        rows = await storage.list_resumes(
            conn, limit=limit + 1, after=after, offset=offset, skill=skill, text=text
        )
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(Position(last.created_at, last.resume_id))
    return ResumePage(items=items, next_cursor=next_cursor)
