"""Resumes are stored in the service's database and survive a restart."""

from fastapi.testclient import TestClient

from app.main import build_app
from app.settings import Settings
from servicekit.testing import TokenFactory


def test_resumes_survive_a_restart(settings: Settings, tokens: TokenFactory) -> None:
    owner = tokens.headers("owner-1")
    with TestClient(build_app(settings, token_verifier=tokens.verifier)) as before:
        kept = before.post(
            "/resumes", json={"title": "Kept", "skills": ["Python"]}, headers=owner
        ).json()
        changed = before.patch(
            f"/resumes/{kept['resume_id']}", json={"summary": "Edited"}, headers=owner
        )
        gone = before.post(
            "/resumes", json={"title": "Gone"}, headers=tokens.headers("owner-2")
        ).json()
        before.delete(f"/resumes/{gone['resume_id']}", headers=tokens.headers("owner-2"))

    with TestClient(build_app(settings, token_verifier=tokens.verifier)) as after:
        reread = after.get(f"/resumes/{kept['resume_id']}")
        assert reread.json() == changed.json()
        assert reread.headers["ETag"] == changed.headers["ETag"]
        assert after.get(f"/resumes/{gone['resume_id']}").status_code == 404
        assert after.get("/resumes", params={"skill": "python"}).json() == [changed.json()]
        # The one-resume rule still holds for the stored resume.
        again = after.post("/resumes", json={"title": "Second"}, headers=owner)
        assert again.status_code == 400
