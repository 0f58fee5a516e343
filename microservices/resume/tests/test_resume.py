"""The seed's resume tests, with the owner's token where writes now need one."""

import uuid
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from servicekit.testing import TokenFactory
from tests.support import SEED_RESUME, Resumes


def test_create_resume(client: TestClient, tokens: TokenFactory) -> None:
    response = client.post("/resumes", json=SEED_RESUME, headers=tokens.headers("user-123"))

    assert response.status_code == 200
    resume = response.json()
    assert uuid.UUID(resume["resume_id"]).version == 4
    assert {key: resume[key] for key in SEED_RESUME} == SEED_RESUME
    assert resume["created_at"] == resume["updated_at"]
    assert datetime.fromisoformat(resume["created_at"]).utcoffset() == timedelta(0)
    assert response.headers["ETag"]
    assert response.headers["Location"] == f"/resumes/{resume['resume_id']}"


def test_create_resume_needs_only_a_title(client: TestClient, tokens: TokenFactory) -> None:
    response = client.post(
        "/resumes", json={"user_id": "u1", "title": "Engineer"}, headers=tokens.headers("u1")
    )

    assert response.status_code == 200
    resume = response.json()
    assert (resume["summary"], resume["skills"], resume["experience"], resume["education"]) == (
        None,
        [],
        None,
        None,
    )


def test_create_resume_without_user_id_is_for_the_caller(
    client: TestClient, tokens: TokenFactory
) -> None:
    response = client.post("/resumes", json={"title": "Engineer"}, headers=tokens.headers("me"))

    assert response.status_code == 200
    assert response.json()["user_id"] == "me"


def test_a_user_has_at_most_one_resume(client: TestClient, tokens: TokenFactory) -> None:
    first = client.post("/resumes", json=SEED_RESUME, headers=tokens.headers("user-123"))
    second = client.post(
        "/resumes", json={**SEED_RESUME, "title": "Other"}, headers=tokens.headers("user-123")
    )

    assert second.status_code == 400
    assert "already has a resume" in second.json()["detail"]
    assert first.json()["resume_id"] in second.json()["detail"]
    assert client.get("/resumes/user/user-123").json()["title"] == "Software Engineer"


def test_get_resume(client: TestClient, resumes: Resumes) -> None:
    created = resumes.create(**{k: v for k, v in SEED_RESUME.items() if k != "user_id"})

    response = client.get(f"/resumes/{created['resume_id']}")

    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["content-type"] == "application/json"


def test_get_resume_by_user_id(client: TestClient, resumes: Resumes) -> None:
    created = resumes.create("user-123")

    response = client.get("/resumes/user/user-123")

    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize(
    "path",
    [
        f"/resumes/{uuid.uuid4()}",
        "/resumes/not-a-uuid",
        "/resumes/%00",
        "/resumes/user/nobody",
        "/resumes/user/%00",
    ],
)
def test_unknown_resume_is_not_found(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Resume not found"}


def test_update_resume(client: TestClient, tokens: TokenFactory, resumes: Resumes) -> None:
    created = resumes.create("user-123", **{k: v for k, v in SEED_RESUME.items() if k != "user_id"})

    response = client.put(
        f"/resumes/{created['resume_id']}",
        json={"title": "Senior Software Engineer", "skills": ["Python", "FastAPI", "Docker"]},
        headers=tokens.headers("user-123"),
    )

    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == "Senior Software Engineer"
    assert updated["skills"] == ["Python", "FastAPI", "Docker"]
    # Fields not sent keep their values.
    assert updated["summary"] == "Experienced developer"
    assert updated["education"] == "BS in CS"
    assert client.get(f"/resumes/{created['resume_id']}").json() == updated


def test_update_unknown_resume_is_not_found(client: TestClient, tokens: TokenFactory) -> None:
    response = client.put(
        f"/resumes/{uuid.uuid4()}", json={"title": "X"}, headers=tokens.headers("user-123")
    )

    assert response.status_code == 404


def test_delete_resume(client: TestClient, tokens: TokenFactory, resumes: Resumes) -> None:
    created = resumes.create("user-123", skills=["Python"])

    response = client.delete(f"/resumes/{created['resume_id']}", headers=tokens.headers("user-123"))

    assert response.status_code == 200
    assert response.json() == {"message": "Resume deleted successfully"}
    assert client.get(f"/resumes/{created['resume_id']}").status_code == 404
    assert client.get("/resumes", params={"skill": "python"}).json() == []


def test_after_deleting_a_user_may_create_a_new_resume(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create("user-123")
    client.delete(f"/resumes/{created['resume_id']}", headers=tokens.headers("user-123"))

    again = resumes.create("user-123", title="Fresh start")

    assert again["resume_id"] != created["resume_id"]


def test_delete_unknown_resume_is_not_found(client: TestClient, tokens: TokenFactory) -> None:
    response = client.delete(f"/resumes/{uuid.uuid4()}", headers=tokens.headers("user-123"))

    assert response.status_code == 404


def test_list_resumes(client: TestClient, resumes: Resumes) -> None:
    first = resumes.create(title="First")
    second = resumes.create(title="Second")

    response = client.get("/resumes")

    assert response.status_code == 200
    assert response.json() == [first, second]
