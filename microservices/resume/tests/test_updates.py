"""Changing a resume: PUT (partial), PATCH (JSON merge-patch), ETags and If-Match."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicekit.testing import TokenFactory
from tests.support import Resumes, sqlite_only

OWNER = "owner-1"
MERGE_PATCH = "application/merge-patch+json"

FULL = {
    "title": "Engineer",
    "summary": "Builds things",
    "skills": ["Python", "SQL"],
    "experience": "5 years",
    "education": "BS",
}


def _patch(
    client: TestClient,
    tokens: TokenFactory,
    resume_id: str,
    patch: dict[str, Any],
    content_type: str = MERGE_PATCH,
    **headers: str,
) -> Any:
    return client.patch(
        f"/resumes/{resume_id}",
        content=json.dumps(patch),
        headers={**tokens.headers(OWNER), "Content-Type": content_type, **headers},
    )


def _put(
    client: TestClient, tokens: TokenFactory, resume_id: str, body: dict[str, Any], **headers: str
) -> Any:
    return client.put(
        f"/resumes/{resume_id}", json=body, headers={**tokens.headers(OWNER), **headers}
    )


def test_merge_patch_replaces_sent_fields_and_keeps_the_rest(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)

    response = _patch(client, tokens, created["resume_id"], {"summary": "Builds more things"})

    assert response.status_code == 200
    assert response.json() == {
        **created,
        "summary": "Builds more things",
        "updated_at": response.json()["updated_at"],
    }


def test_merge_patch_null_removes_optional_fields(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)

    response = _patch(
        client,
        tokens,
        created["resume_id"],
        {"summary": None, "experience": None, "education": None, "skills": None},
    )

    assert response.status_code == 200
    resume = client.get(f"/resumes/{created['resume_id']}").json()
    assert resume["title"] == "Engineer"
    assert (resume["summary"], resume["experience"], resume["education"]) == (None, None, None)
    assert resume["skills"] == []
    assert client.get("/resumes", params={"skill": "python"}).json() == []


def test_merge_patch_cannot_remove_the_title(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)

    response = _patch(client, tokens, created["resume_id"], {"title": None})

    assert response.status_code == 422
    assert "title cannot be removed" in response.text
    assert client.get(f"/resumes/{created['resume_id']}").json() == created


def test_merge_patch_replaces_skills_as_a_whole(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)

    response = _patch(client, tokens, created["resume_id"], {"skills": ["Go", "go", "Rust"]})

    assert response.json()["skills"] == ["Go", "Rust"]
    assert [r["resume_id"] for r in client.get("/resumes", params={"skill": "rust"}).json()] == [
        created["resume_id"]
    ]
    assert client.get("/resumes", params={"skill": "sql"}).json() == []


def test_patch_accepts_plain_json_too(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)

    response = _patch(
        client, tokens, created["resume_id"], {"title": "Lead"}, "application/json; charset=utf-8"
    )

    assert response.status_code == 200
    assert response.json()["title"] == "Lead"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
@sqlite_only
def test_patch_with_another_media_type_is_unsupported(
    client: TestClient, tokens: TokenFactory, resumes: Resumes, content_type: str
) -> None:
    created = resumes.create(OWNER, **FULL)

    response = _patch(client, tokens, created["resume_id"], {"title": "Lead"}, content_type)

    assert response.status_code == 415
    assert MERGE_PATCH in response.json()["detail"]
    assert client.get(f"/resumes/{created['resume_id']}").json() == created


def test_put_changes_only_the_fields_sent(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)

    response = _put(client, tokens, created["resume_id"], {"education": "MSc"})

    assert response.status_code == 200
    assert response.json() == {
        **created,
        "education": "MSc",
        "updated_at": response.json()["updated_at"],
    }


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_change_moves_updated_at_but_not_created_at(
    client: TestClient, tokens: TokenFactory, resumes: Resumes, method: str
) -> None:
    created = resumes.create(OWNER, **FULL)

    response = client.request(
        method,
        f"/resumes/{created['resume_id']}",
        json={"title": "Staff Engineer"},
        headers=tokens.headers(OWNER),
    )

    changed = response.json()
    assert changed["created_at"] == created["created_at"]
    assert changed["updated_at"] > created["updated_at"]


def test_a_change_that_changes_nothing_keeps_updated_at_and_etag(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)
    etag = client.get(f"/resumes/{created['resume_id']}").headers["ETag"]

    response = _put(
        client, tokens, created["resume_id"], {"title": "Engineer", "skills": FULL["skills"]}
    )

    assert response.json() == created
    assert response.headers["ETag"] == etag


def test_every_change_gets_a_new_etag(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)
    first = client.get(f"/resumes/{created['resume_id']}").headers["ETag"]

    changed = _patch(client, tokens, created["resume_id"], {"title": "Lead"})

    assert changed.headers["ETag"] != first
    assert client.get(f"/resumes/{created['resume_id']}").headers["ETag"] == changed.headers["ETag"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_a_write_with_a_stale_if_match_is_refused(
    client: TestClient, tokens: TokenFactory, resumes: Resumes, method: str
) -> None:
    created = resumes.create(OWNER, **FULL)
    stale = client.get(f"/resumes/{created['resume_id']}").headers["ETag"]
    current = _patch(client, tokens, created["resume_id"], {"title": "Someone else's edit"})

    response = client.request(
        method,
        f"/resumes/{created['resume_id']}",
        json={"title": "My edit"} if method != "DELETE" else None,
        headers={**tokens.headers(OWNER), "If-Match": stale},
    )

    assert response.status_code == 412
    assert "changed" in response.json()["detail"]
    assert response.headers["ETag"] == current.headers["ETag"]
    assert client.get(f"/resumes/{created['resume_id']}").json() == current.json()


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_write_with_the_current_etag_succeeds(
    client: TestClient, tokens: TokenFactory, resumes: Resumes, method: str
) -> None:
    created = resumes.create(OWNER, **FULL)
    etag = client.get(f"/resumes/{created['resume_id']}").headers["ETag"]

    response = client.request(
        method,
        f"/resumes/{created['resume_id']}",
        json={"title": "Lead"},
        headers={**tokens.headers(OWNER), "If-Match": f'"nope", {etag}'},
    )

    assert response.status_code == 200
    assert response.json()["title"] == "Lead"


def test_if_match_star_means_any_current_version(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)

    response = _patch(client, tokens, created["resume_id"], {"title": "Lead"}, **{"If-Match": "*"})

    assert response.status_code == 200


def test_a_weak_etag_never_satisfies_if_match(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)
    etag = client.get(f"/resumes/{created['resume_id']}").headers["ETag"]

    response = _patch(
        client, tokens, created["resume_id"], {"title": "Lead"}, **{"If-Match": f"W/{etag}"}
    )

    assert response.status_code == 412


def test_delete_with_the_current_etag_succeeds(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)
    etag = client.get(f"/resumes/{created['resume_id']}").headers["ETag"]

    response = client.delete(
        f"/resumes/{created['resume_id']}", headers={**tokens.headers(OWNER), "If-Match": etag}
    )

    assert response.json() == {"message": "Resume deleted successfully"}


def test_get_with_the_current_etag_is_not_modified(
    client: TestClient, tokens: TokenFactory, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)
    etag = client.get(f"/resumes/{created['resume_id']}").headers["ETag"]

    unchanged = client.get(f"/resumes/{created['resume_id']}", headers={"If-None-Match": etag})
    _patch(client, tokens, created["resume_id"], {"title": "Lead"})
    changed = client.get(f"/resumes/{created['resume_id']}", headers={"If-None-Match": etag})

    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["ETag"] == etag
    assert changed.status_code == 200
    assert changed.json()["title"] == "Lead"


def test_if_none_match_sent_as_several_header_lines_counts_every_line(
    client: TestClient, resumes: Resumes
) -> None:
    created = resumes.create(OWNER, **FULL)
    etag = client.get(f"/resumes/{created['resume_id']}").headers["ETag"]

    response = client.get(
        f"/resumes/{created['resume_id']}",
        headers=[("If-None-Match", '"v0"'), ("If-None-Match", etag)],
    )

    assert response.status_code == 304
    assert response.headers["ETag"] == etag
