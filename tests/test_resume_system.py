"""The resume service through the real gateway, with real users signed in at accounts."""

from __future__ import annotations

import uuid

import httpx

from tests.platform_users import sign_up

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def test_a_user_creates_changes_finds_and_deletes_their_resume(gateway: httpx.Client) -> None:
    user = sign_up(gateway)
    skill = f"Skill-{uuid.uuid4().hex[:8]}"

    created = gateway.post(
        "/resume/resumes",
        json={
            "user_id": user.user_id,
            "title": "Software Engineer",
            "summary": "Experienced developer",
            "skills": ["Python", skill],
        },
        headers=user.headers,
    )
    assert created.status_code == 200, created.text
    resume = created.json()
    path = f"/resume/resumes/{resume['resume_id']}"
    assert created.headers["Location"] == path

    # Reads are public, and a cached copy can be revalidated with its ETag.
    read = gateway.get(path)
    assert read.json() == resume
    revalidated = gateway.get(path, headers={"If-None-Match": read.headers["ETag"]})
    assert revalidated.status_code == 304

    patched = gateway.patch(
        path,
        content=b'{"summary": null, "title": "Staff Engineer"}',
        headers={**user.headers, **MERGE_PATCH, "If-Match": read.headers["ETag"]},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["title"], patched.json()["summary"]) == ("Staff Engineer", None)

    stale = gateway.put(
        path,
        json={"title": "Lost update"},
        headers={**user.headers, "If-Match": read.headers["ETag"]},
    )
    assert stale.status_code == 412
    assert stale.json()["detail"]

    found = gateway.get("/resume/resumes", params={"skill": skill.upper(), "q": "staff"})
    assert [r["resume_id"] for r in found.json()] == [resume["resume_id"]]
    assert gateway.get(f"/resume/resumes/user/{user.user_id}").json() == patched.json()

    deleted = gateway.delete(path, headers=user.headers)
    assert deleted.json() == {"message": "Resume deleted successfully"}
    assert gateway.get(path).status_code == 404


def test_only_the_owner_may_change_a_resume(gateway: httpx.Client) -> None:
    owner = sign_up(gateway)
    stranger = sign_up(gateway)
    created = gateway.post("/resume/resumes", json={"title": "Mine"}, headers=owner.headers)
    assert created.status_code == 200, created.text
    path = f"/resume/resumes/{created.json()['resume_id']}"

    anonymous = gateway.put(path, json={"title": "Yours"})
    forbidden = gateway.put(path, json={"title": "Yours"}, headers=stranger.headers)
    for_someone_else = gateway.post(
        "/resume/resumes",
        json={"user_id": owner.user_id, "title": "Also mine"},
        headers=stranger.headers,
    )
    forged = gateway.delete(path, headers={"Authorization": "Bearer a.b.c"})

    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert forbidden.status_code == 403
    assert for_someone_else.status_code == 403
    assert forged.status_code == 401
    assert gateway.get(path).json()["title"] == "Mine"


def test_pages_link_to_the_next_page_through_the_gateway(gateway: httpx.Client) -> None:
    tag = f"page-{uuid.uuid4().hex[:8]}"
    ids = []
    for _ in range(3):
        user = sign_up(gateway)
        response = gateway.post(
            "/resume/resumes", json={"title": f"Engineer {tag}"}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        ids.append(response.json()["resume_id"])

    first = gateway.get("/resume/resumes", params={"q": tag, "limit": 2})
    following = gateway.get(first.links["next"]["url"])

    assert first.links["next"]["url"].startswith("/resume/resumes?")
    assert [r["resume_id"] for r in first.json() + following.json()] == ids
