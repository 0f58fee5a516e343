"""Bad input is a clear 422 that names the field, and nothing is written."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicekit.testing import TokenFactory
from tests.support import Resumes, sqlite_only

OWNER = "owner-1"


def _create(client: TestClient, tokens: TokenFactory, **fields: Any) -> Any:
    body = {"user_id": OWNER, "title": "Engineer", **fields}
    return client.post("/resumes", json=body, headers=tokens.headers(OWNER))


def _error_fields(response: Any) -> set[str]:
    return {str(error["loc"][1]) for error in response.json()["detail"]}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": None}, "title"),
        ({"title": 42}, "title"),
        ({"summary": "x" * 10_001}, "summary"),
        ({"experience": "x" * 10_001}, "experience"),
        ({"education": "x" * 10_001}, "education"),
        ({"skills": ["Python"] * 51}, "skills"),
        ({"skills": ["Python", "  "]}, "skills"),
        ({"skills": ["x" * 51]}, "skills"),
        ({"skills": [1, 2]}, "skills"),
        ({"skills": "Python"}, "skills"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": "has spaces"}, "user_id"),
        ({"salary": 100}, "salary"),
    ],
)
@sqlite_only
def test_invalid_resume_is_rejected_naming_the_field(
    client: TestClient, tokens: TokenFactory, fields: dict[str, Any], field: str
) -> None:
    response = _create(client, tokens, **fields)

    assert response.status_code == 422
    assert field in _error_fields(response)
    assert client.get("/resumes").json() == []


@pytest.mark.parametrize("field", ["title", "summary", "experience", "education", "user_id"])
def test_nul_characters_are_rejected_before_reaching_the_database(
    client: TestClient, tokens: TokenFactory, field: str
) -> None:
    response = _create(client, tokens, **{field: "nul\x00byte"})

    assert response.status_code == 422
    assert field in _error_fields(response)
    assert client.get("/resumes").json() == []


def test_validation_errors_do_not_echo_the_input(client: TestClient, tokens: TokenFactory) -> None:
    response = _create(client, tokens, title="secret" * 40)

    assert response.status_code == 422
    assert "secret" not in response.text


def test_lone_surrogate_text_is_rejected(client: TestClient, tokens: TokenFactory) -> None:
    # Valid JSON (an escaped lone surrogate), but not text any database can store.
    body = '{"title": "bad \\ud800 text"}'

    response = client.post(
        "/resumes",
        content=body.encode(),
        headers={**tokens.headers(OWNER), "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert client.get("/resumes").json() == []


@sqlite_only
def test_malformed_json_is_rejected(client: TestClient, tokens: TokenFactory) -> None:
    response = client.post(
        "/resumes",
        content=b'{"title": ',
        headers={**tokens.headers(OWNER), "Content-Type": "application/json"},
    )

    assert response.status_code == 422


def test_limits_themselves_are_accepted(client: TestClient, tokens: TokenFactory) -> None:
    skills = [f"skill-{n}" for n in range(50)]
    response = _create(
        client,
        tokens,
        title="t" * 200,
        summary="s" * 10_000,
        experience="e" * 10_000,
        education="d" * 10_000,
        skills=skills,
    )

    assert response.status_code == 200
    resume = response.json()
    assert len(resume["title"]) == 200
    assert len(resume["summary"]) == 10_000
    assert resume["skills"] == skills


def test_title_and_skills_are_stripped(client: TestClient, tokens: TokenFactory) -> None:
    response = _create(client, tokens, title="  Engineer \n", skills=["  Python ", "\tSQL"])

    assert response.json()["title"] == "Engineer"
    assert response.json()["skills"] == ["Python", "SQL"]


def test_skills_are_deduplicated_keeping_first_spelling_and_order(
    client: TestClient, tokens: TokenFactory
) -> None:
    skills = ["FastAPI", "python", "Docker", "PYTHON", "fastapi ", "Straße", "STRASSE"]

    response = _create(client, tokens, skills=skills)

    assert response.json()["skills"] == ["FastAPI", "python", "Docker", "Straße"]


def test_unicode_text_round_trips(client: TestClient, tokens: TokenFactory) -> None:
    response = _create(client, tokens, title="Инженер 🚀", summary="日本語の要約")

    stored = client.get(f"/resumes/{response.json()['resume_id']}").json()
    assert (stored["title"], stored["summary"]) == ("Инженер 🚀", "日本語の要約")


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": None},
        {"summary": "x" * 10_001},
        {"skills": ["ok", ""]},
        {"user_id": "someone-else"},
        {"resume_id": "00000000-0000-0000-0000-000000000000"},
        {"created_at": "2000-01-01T00:00:00+00:00"},
    ],
)
@sqlite_only
def test_invalid_change_is_rejected_and_nothing_changes(
    client: TestClient, tokens: TokenFactory, resumes: Resumes, method: str, body: dict[str, Any]
) -> None:
    created = resumes.create(OWNER, summary="kept")

    response = client.request(
        method,
        f"/resumes/{created['resume_id']}",
        content=json.dumps(body),
        headers={**tokens.headers(OWNER), "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert client.get(f"/resumes/{created['resume_id']}").json() == created


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_change_with_nul_characters_is_rejected(
    client: TestClient, tokens: TokenFactory, resumes: Resumes, method: str
) -> None:
    created = resumes.create(OWNER)

    response = client.request(
        method,
        f"/resumes/{created['resume_id']}",
        json={"skills": ["nul\x00"]},
        headers=tokens.headers(OWNER),
    )

    assert response.status_code == 422
    assert client.get(f"/resumes/{created['resume_id']}").json() == created


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "many"},
        {"offset": "-1"},
        {"skill": "x" * 51},
        {"q": "x" * 201},
    ],
)
@sqlite_only
def test_invalid_listing_parameters_are_rejected(
    client: TestClient, params: dict[str, str]
) -> None:
    response = client.get("/resumes", params=params)

    assert response.status_code == 422


@pytest.mark.parametrize("param", ["q", "skill"])
def test_nul_characters_in_filters_are_rejected(client: TestClient, param: str) -> None:
    response = client.get("/resumes", params={param: "nul\x00"})

    assert response.status_code == 422
