"""What clients send and receive: validated request bodies and the documented response shapes."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

TITLE_MAX_LENGTH = 200
TEXT_MAX_LENGTH = 10_000
SKILLS_MAX_COUNT = 50
SKILL_MAX_LENGTH = 50
USER_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"


def storable_text(value: str) -> str:
    """Reject text no database can store: NUL characters (PostgreSQL) and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def deduplicate_skills(skills: list[str]) -> list[str]:
    """Drop case-insensitive repeats, keeping each skill's first spelling and the order."""
    seen: set[str] = set()
    unique: list[str] = []
    for skill in skills:
        folded = skill.casefold()
        if folded not in seen:
            seen.add(folded)
            unique.append(skill)
    return unique


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX_LENGTH),
    AfterValidator(storable_text),
]
LongText = Annotated[
    str, StringConstraints(max_length=TEXT_MAX_LENGTH), AfterValidator(storable_text)
]
Skill = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=SKILL_MAX_LENGTH),
    AfterValidator(storable_text),
]
Skills = Annotated[
    list[Skill], Field(max_length=SKILLS_MAX_COUNT), AfterValidator(deduplicate_skills)
]
UserId = Annotated[str, Field(pattern=USER_ID_PATTERN, examples=["user-123"])]


class ResumeCreate(BaseModel):
    """Body of ``POST /resumes``. ``user_id`` defaults to the caller."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "user_id": "user-123",
                    "title": "Software Engineer",
                    "summary": "Experienced developer",
                    "skills": ["Python", "FastAPI"],
                    "experience": "5 years",
                    "education": "BS in CS",
                }
            ]
        },
    )

    user_id: UserId | None = None
    title: Title
    summary: LongText | None = None
    skills: Skills = Field(default_factory=list)
    experience: LongText | None = None
    education: LongText | None = None


class ResumeChanges(BaseModel):
    """Body of ``PUT`` and ``PATCH /resumes/{id}``: only the fields sent change.

    With merge-patch semantics (RFC 7396), ``null`` removes a field: ``summary``,
    ``experience`` and ``education`` become ``null`` and ``skills`` becomes ``[]``.
    ``title`` is required and cannot be removed.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"title": "Senior Software Engineer", "skills": ["Python", "FastAPI", "Docker"]},
                {"summary": None},
            ]
        },
    )

    title: Title | None = None
    summary: LongText | None = None
    skills: Skills | None = None
    experience: LongText | None = None
    education: LongText | None = None

    @field_validator("title")
    @classmethod
    def title_cannot_be_removed(cls, value: str | None) -> str:
        """An explicit ``"title": null`` is an error: every resume has a title."""
        if value is None:
            raise ValueError("title cannot be removed; send a new title instead")
        return value


class ResumeOut(BaseModel):
    """A resume as the API returns it (the ``ETag`` header carries its version)."""

    resume_id: str = Field(description="UUID of the resume, generated on creation.")
    user_id: str
    title: str
    summary: str | None
    skills: list[str]
    experience: str | None
    education: str | None
    created_at: str = Field(description="ISO 8601 UTC; never changes.")
    updated_at: str = Field(description="ISO 8601 UTC; moves on every change.")


class DeleteConfirmation(BaseModel):
    """Answer of ``DELETE /resumes/{id}``."""

    message: str = Field(examples=["Resume deleted successfully"])
