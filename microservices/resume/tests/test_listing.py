"""Listing resumes: stable order, cursor and offset pages, skill filter, text search."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import Resumes, sqlite_only


def _ids(resumes: list[dict[str, Any]]) -> list[str]:
    return [resume["resume_id"] for resume in resumes]


def _walk(client: TestClient, params: dict[str, Any], *, max_pages: int = 50) -> list[Any]:
    """Every page of a listing, following X-Next-Cursor."""
    pages = []
    response = client.get("/resumes", params=params)
    for _ in range(max_pages):
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            return pages
        response = client.get("/resumes", params={**params, "cursor": cursor})
    raise AssertionError("listing did not end")


def test_resumes_are_listed_oldest_first(client: TestClient, resumes: Resumes) -> None:
    created = [resumes.create(title=f"R{n}") for n in range(3)]

    assert _ids(client.get("/resumes").json()) == _ids(created)


def test_cursor_pages_cover_everything_once(client: TestClient, resumes: Resumes) -> None:
    created = [resumes.create(title=f"R{n}") for n in range(7)]

    pages = _walk(client, {"limit": 3})

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [rid for page in pages for rid in _ids(page)] == _ids(created)


def test_the_last_full_page_has_no_next_cursor(client: TestClient, resumes: Resumes) -> None:
    for n in range(4):
        resumes.create(title=f"R{n}")

    pages = _walk(client, {"limit": 2})

    assert [len(page) for page in pages] == [2, 2]


def test_next_link_points_at_the_next_page(client: TestClient, resumes: Resumes) -> None:
    created = [resumes.create(title=f"Engineer {n}") for n in range(3)]

    first = client.get("/resumes", params={"limit": 2, "q": "engineer"})
    following = client.get(first.links["next"]["url"])

    assert first.links["next"]["url"].startswith("/resumes?limit=2&q=engineer&cursor=")
    assert _ids(following.json()) == _ids(created[2:])
    assert "Link" not in following.headers


def test_pages_stay_stable_while_resumes_are_added(client: TestClient, resumes: Resumes) -> None:
    existing = [resumes.create(title=f"Old {n}") for n in range(6)]
    seen: list[str] = []
    added: list[str] = []

    response = client.get("/resumes", params={"limit": 2})
    for _ in range(20):
        seen += _ids(response.json())
        # Someone adds a resume between every two pages.
        added.append(resumes.create(title=f"New {len(added)}")["resume_id"])
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            break
        response = client.get("/resumes", params={"limit": 2, "cursor": cursor})

    assert len(seen) == len(set(seen)), "a resume showed up twice"
    assert seen[: len(existing)] == _ids(existing), "an existing resume was skipped or moved"
    assert set(seen[len(existing) :]) <= set(added)


def test_offset_skips_resumes(client: TestClient, resumes: Resumes) -> None:
    created = [resumes.create(title=f"R{n}") for n in range(5)]

    response = client.get("/resumes", params={"offset": 2, "limit": 2})

    assert _ids(response.json()) == _ids(created[2:4])
    # The next page continues from there as a cursor.
    following = client.get("/resumes", params={"cursor": response.headers["X-Next-Cursor"]})
    assert _ids(following.json()) == _ids(created[4:])


def test_cursor_and_offset_together_are_refused(client: TestClient, resumes: Resumes) -> None:
    for n in range(3):
        resumes.create(title=f"R{n}")
    cursor = client.get("/resumes", params={"limit": 1}).headers["X-Next-Cursor"]

    response = client.get("/resumes", params={"cursor": cursor, "offset": 1})

    assert response.status_code == 400


@pytest.mark.parametrize(
    "cursor", ["garbage", "W10", "WyJ4IiwieSJd", "WyIyMDI2LTAxLTAxIiwxXQ", "%00", ""]
)
@sqlite_only
def test_a_forged_cursor_is_refused(client: TestClient, cursor: str) -> None:
    response = client.get("/resumes", params={"cursor": cursor})

    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


def test_default_page_is_fifty(client: TestClient, resumes: Resumes) -> None:
    for n in range(51):
        resumes.create(title=f"R{n}")

    response = client.get("/resumes")

    assert len(response.json()) == 50
    assert "X-Next-Cursor" in response.headers


def test_skill_filter_is_case_insensitive_and_exact(client: TestClient, resumes: Resumes) -> None:
    python = resumes.create(skills=["Python", "SQL"])
    resumes.create(skills=["CPython internals"])
    lowercase = resumes.create(skills=["python"])
    resumes.create(skills=[])

    response = client.get("/resumes", params={"skill": "PYTHON"})

    assert _ids(response.json()) == [python["resume_id"], lowercase["resume_id"]]


def test_skill_filter_folds_unicode_case(client: TestClient, resumes: Resumes) -> None:
    match = resumes.create(skills=["Straße"])

    assert _ids(client.get("/resumes", params={"skill": "STRASSE"}).json()) == [match["resume_id"]]


def test_text_query_searches_title_and_summary(client: TestClient, resumes: Resumes) -> None:
    by_title = resumes.create(title="Backend Developer")
    by_summary = resumes.create(title="Engineer", summary="Mostly BACKEND work")
    resumes.create(title="Designer", summary="Front of house", experience="backend")

    response = client.get("/resumes", params={"q": "backend"})

    assert _ids(response.json()) == [by_title["resume_id"], by_summary["resume_id"]]


def test_text_query_folds_unicode_case(client: TestClient, resumes: Resumes) -> None:
    match = resumes.create(title="ÉCOLE Polytechnique")

    assert _ids(client.get("/resumes", params={"q": "école"}).json()) == [match["resume_id"]]


@pytest.mark.parametrize(("query", "matches"), [("100%", 1), ("a_b", 1), ("%", 1), ("_", 1)])
def test_text_query_treats_wildcards_literally(
    client: TestClient, resumes: Resumes, query: str, matches: int
) -> None:
    resumes.create(title="Gives 100% at a_b")
    resumes.create(title="Gives 1000 at axb")

    assert len(client.get("/resumes", params={"q": query}).json()) == matches


@pytest.mark.parametrize("param", ["q", "skill"])
def test_a_blank_filter_is_no_filter(client: TestClient, resumes: Resumes, param: str) -> None:
    resumes.create(title="One")
    resumes.create(title="Two", skills=["Go"])

    assert len(client.get("/resumes", params={param: "  "}).json()) == 2


def test_filters_combine_and_paginate(client: TestClient, resumes: Resumes) -> None:
    wanted = [resumes.create(title=f"Data Engineer {n}", skills=["SQL"]) for n in range(5)]
    resumes.create(title="Data Engineer", skills=["Excel"])
    resumes.create(title="Chef", skills=["sql"])

    pages = _walk(client, {"q": "data", "skill": "sql", "limit": 2})

    assert [rid for page in pages for rid in _ids(page)] == _ids(wanted)
