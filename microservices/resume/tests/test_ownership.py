"""Reads are public; writing a resume takes its owner's token (or an admin's)."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicekit.testing import TokenFactory
from tests.support import Resumes, sqlite_only

OWNER = "owner-1"
STRANGER = "stranger-2"

WRITES = [
    ("PUT", {"title": "Hijacked"}),
    ("PATCH", {"title": "Hijacked"}),
    ("DELETE", None),
]


def _write(
    client: TestClient, method: str, resume_id: str, body: Any, headers: dict[str, str]
) -> Any:
    return client.request(method, f"/resumes/{resume_id}", json=body, headers=headers)


@sqlite_only
def test_creating_without_a_token_is_unauthorized(client: TestClient) -> None:
    response = client.post("/resumes", json={"user_id": OWNER, "title": "Engineer"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/resumes").json() == []


@sqlite_only
def test_creating_with_an_invalid_token_is_unauthorized(client: TestClient) -> None:
    response = client.post(
        "/resumes",
        json={"user_id": OWNER, "title": "Engineer"},
        headers={"Authorization": "Bearer not.a.token"},
    )

    assert response.status_code == 401


def test_creating_a_resume_for_someone_else_is_forbidden(
    client: TestClient, tokens: TokenFactory
) -> None:
    response = client.post(
        "/resumes", json={"user_id": OWNER, "title": "Engineer"}, headers=tokens.headers(STRANGER)
    )

    assert response.status_code == 403
    assert client.get(f"/resumes/user/{OWNER}").status_code == 404


def test_an_admin_may_create_a_resume_for_anyone(client: TestClient, tokens: TokenFactory) -> None:
    response = client.post(
        "/resumes",
        json={"user_id": OWNER, "title": "Engineer"},
        headers=tokens.headers("admin-0", is_admin=True),
    )

    assert response.status_code == 200
    assert response.json()["user_id"] == OWNER


@pytest.mark.parametrize(("method", "body"), WRITES)
@sqlite_only
def test_writing_without_a_token_is_unauthorized(
    client: TestClient, resumes: Resumes, method: str, body: Any
) -> None:
    created = resumes.create(OWNER)

    response = _write(client, method, created["resume_id"], body, {})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get(f"/resumes/{created['resume_id']}").json() == created


@pytest.mark.parametrize(("method", "body"), WRITES)
def test_writing_someone_elses_resume_is_forbidden(
    client: TestClient, tokens: TokenFactory, resumes: Resumes, method: str, body: Any
) -> None:
    created = resumes.create(OWNER)

    response = _write(client, method, created["resume_id"], body, tokens.headers(STRANGER))

    assert response.status_code == 403
    assert response.json() == {"detail": "Only the resume's owner or an admin may do this"}
    assert client.get(f"/resumes/{created['resume_id']}").json() == created


@sqlite_only
def test_an_expired_token_is_unauthorized(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER)

    response = _write(
        client, "DELETE", created["resume_id"], None, tokens.headers(OWNER, expires_in=-60)
    )

    assert response.status_code == 401
    assert client.get(f"/resumes/{created['resume_id']}").status_code == 200


@pytest.mark.parametrize(("method", "body"), WRITES)
def test_an_admin_may_change_or_delete_any_resume(
    client: TestClient, tokens: TokenFactory, resumes: Resumes, method: str, body: Any
) -> None:
    created = resumes.create(OWNER)

    response = _write(
        client, method, created["resume_id"], body, tokens.headers("admin-0", is_admin=True)
    )

    assert response.status_code == 200


def test_reading_needs_no_token(client: TestClient, resumes: Resumes) -> None:
    created = resumes.create(OWNER)

    assert client.get(f"/resumes/{created['resume_id']}").status_code == 200
    assert client.get(f"/resumes/user/{OWNER}").status_code == 200
    assert client.get("/resumes").json() == [created]
