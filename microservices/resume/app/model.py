"""The resume record and the rules about it that need no database: creation, change, ownership."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from app.preconditions import etag_for
from app.schemas import USER_ID_PATTERN, ResumeChanges, ResumeCreate
from servicekit.auth import Principal

_RESUME_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_USER_ID = re.compile(USER_ID_PATTERN)

# Fields a change may touch; user_id, resume_id and created_at are fixed for life.
CHANGEABLE_FIELDS = ("title", "summary", "skills", "experience", "education")


def utc_timestamp() -> str:
    """Now, as fixed-width ISO 8601 UTC text with microseconds (sorts like time does)."""
    # Not isoformat(): it drops the microseconds when they are zero, breaking the fixed width.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


@dataclass(frozen=True, slots=True)
class Resume:
    """A stored resume. ``version`` counts changes and is what the ETag names."""

    resume_id: str
    user_id: str
    title: str
    summary: str | None
    skills: tuple[str, ...]
    experience: str | None
    education: str | None
    created_at: str
    updated_at: str
    version: int

    @property
    def etag(self) -> str:
        """The strong entity tag of this version of the resume."""
        return etag_for(self.version)

    def to_document(self) -> dict[str, Any]:
        """The resume as the API shows it."""
        return {
            "resume_id": self.resume_id,
            "user_id": self.user_id,
            "title": self.title,
            "summary": self.summary,
            "skills": list(self.skills),
            "experience": self.experience,
            "education": self.education,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def to_json(self) -> bytes:
        """The document as JSON, byte for byte what every read of this version sends."""
        return orjson.dumps(self.to_document())


class ResumeDocument(NamedTuple):
    """A resume as the API shows it, ready to send: its stored JSON and the version it is."""

    body: bytes
    version: int

    @property
    def etag(self) -> str:
        """The strong entity tag of this version of the resume."""
        return etag_for(self.version)


def could_be_resume_id(value: str) -> bool:
    """Whether ``value`` has the shape of the ids this service issues (lowercase UUIDs).

    Anything else cannot exist, so it is answered without a query (and never reaches the
    database as, say, a NUL character PostgreSQL would refuse).
    """
    return _RESUME_ID.fullmatch(value) is not None


def could_be_user_id(value: str) -> bool:
    """Whether ``value`` has the shape of a user id a resume can belong to."""
    return _USER_ID.fullmatch(value) is not None


def may_act_for(actor: Principal, user_id: str) -> bool:
    """Whether ``actor`` may write resumes of ``user_id``: it is them, or an admin."""
    return actor.is_admin or actor.user_id == user_id


def new_resume(data: ResumeCreate, user_id: str, now: str) -> Resume:
    """A fresh resume (version 1) for ``user_id`` from a validated create request."""
    return Resume(
        resume_id=str(uuid.uuid4()),
        user_id=user_id,
        title=data.title,
        summary=data.summary,
        skills=tuple(data.skills),
        experience=data.experience,
        education=data.education,
        created_at=now,
        updated_at=now,
        version=1,
    )


def apply_changes(resume: Resume, changes: ResumeChanges, now: str) -> Resume:
    """``resume`` with the fields ``changes`` names replaced (merge-patch semantics).

    A field sent as ``null`` is removed (``skills`` becomes empty). When nothing actually
    differs, the same resume comes back: no new version, ``updated_at`` does not move.
    """
    updates: dict[str, Any] = {}
    for name in CHANGEABLE_FIELDS:
        if name not in changes.model_fields_set:
            continue
        value = getattr(changes, name)
        if name == "skills":
            value = tuple(value or ())
        if value != getattr(resume, name):
            updates[name] = value
    if not updates:
        return resume
    return replace(resume, **updates, updated_at=now, version=resume.version + 1)
