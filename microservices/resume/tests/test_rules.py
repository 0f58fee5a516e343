"""The pure rules: skills, changes, entity tags, cursors, id shapes."""

import pytest

from app.model import Resume, apply_changes, could_be_resume_id, may_act_for
from app.pagination import InvalidCursor, Position, decode_cursor, encode_cursor
from app.preconditions import etag_for, if_match_satisfied, if_none_match_hit
from app.schemas import ResumeChanges, deduplicate_skills
from servicekit.auth import Principal

RESUME = Resume(
    resume_id="6f1c1d5e-8a51-4a6a-9a43-1d1c0d0b8e01",
    user_id="owner-1",
    title="Engineer",
    summary="Builds things",
    skills=("Python",),
    experience=None,
    education=None,
    created_at="2026-12-01T00:00:00.000000+00:00",
    updated_at="2026-12-01T00:00:00.000000+00:00",
    version=3,
)
LATER = "2026-12-01T01:00:00.000000+00:00"


def test_deduplicate_skills_keeps_first_spelling_and_order() -> None:
    assert deduplicate_skills(["b", "A", "B", "a", "c"]) == ["b", "A", "c"]


def test_apply_changes_replaces_only_fields_sent_and_counts_a_version() -> None:
    changed = apply_changes(RESUME, ResumeChanges.model_validate({"summary": None}), LATER)

    assert (changed.summary, changed.title, changed.skills) == (None, "Engineer", ("Python",))
    assert (changed.version, changed.updated_at, changed.created_at) == (
        4,
        LATER,
        RESUME.created_at,
    )


def test_apply_changes_with_null_skills_empties_them() -> None:
    changed = apply_changes(RESUME, ResumeChanges.model_validate({"skills": None}), LATER)

    assert changed.skills == ()


def test_apply_changes_that_change_nothing_return_the_same_resume() -> None:
    same = apply_changes(
        RESUME, ResumeChanges.model_validate({"title": "Engineer", "skills": ["Python"]}), LATER
    )

    assert same is RESUME


def test_owner_and_admin_may_act_others_may_not() -> None:
    def principal(user_id: str, is_admin: bool = False) -> Principal:
        return Principal(user_id=user_id, phone_number=None, is_admin=is_admin, claims={})

    assert may_act_for(principal("owner-1"), "owner-1")
    assert may_act_for(principal("root", is_admin=True), "owner-1")
    assert not may_act_for(principal("owner-2"), "owner-1")


@pytest.mark.parametrize(
    ("header", "satisfied"),
    [
        (None, True),
        ("*", True),
        ('"v3"', True),
        ('"v1", "v3"', True),
        ('"v2"', False),
        ('W/"v3"', False),
        ("v3", False),
        ("", False),
    ],
)
def test_if_match_uses_strong_comparison(header: str | None, satisfied: bool) -> None:
    assert if_match_satisfied(header, etag_for(3)) is satisfied


@pytest.mark.parametrize(
    ("header", "hit"),
    [(None, False), ("*", True), ('"v3"', True), ('W/"v3"', True), ('"v2"', False)],
)
def test_if_none_match_uses_weak_comparison(header: str | None, hit: bool) -> None:
    assert if_none_match_hit(header, etag_for(3)) is hit


def test_cursor_round_trips_and_is_opaque() -> None:
    position = Position(RESUME.created_at, RESUME.resume_id)

    cursor = encode_cursor(position)

    assert decode_cursor(cursor) == position
    assert RESUME.resume_id not in cursor


@pytest.mark.parametrize("cursor", ["", "!!!", "bnVsbA", "WzEsMl0", "é"])
def test_decode_cursor_refuses_what_it_did_not_make(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


@pytest.mark.parametrize(
    ("value", "plausible"),
    [
        (RESUME.resume_id, True),
        (RESUME.resume_id.upper(), False),
        ("not-a-uuid", False),
        ("\x00", False),
    ],
)
def test_could_be_resume_id(value: str, plausible: bool) -> None:
    assert could_be_resume_id(value) is plausible
