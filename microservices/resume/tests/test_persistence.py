"""Resumes are stored in the service's database and survive a restart."""

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient

from app.main import MIGRATIONS, build_app
from app.settings import Settings
from servicekit.testing import TokenFactory

RESUME_ID = "0b0f5c8e-1c1d-4a8e-9a55-4f1a2b3c4d5e"


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


def test_resumes_stored_before_documents_were_kept_read_as_they_were(
    data_dir: Path, tokens: TokenFactory
) -> None:
    """Migration 0002 writes the document of every resume that 0001 stored."""
    database = data_dir / "resume.db"
    engine = sa.create_engine(f"sqlite:///{database}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001_create_resumes")
        connection.execute(
            sa.text(
                "INSERT INTO resumes (resume_id, user_id, title, summary, skills, experience,"
                " education, title_folded, summary_folded, created_at, updated_at, version)"
                " VALUES (:id, 'owner-1', 'Zoë''s CV', NULL, '[\"Python\"]', NULL, NULL,"
                " 'zoë''s cv', '', :at, :at, 3)"
            ),
            {"id": RESUME_ID, "at": "2026-12-01T00:00:00.000000+00:00"},
        )
    engine.dispose()

    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{database}")
    with TestClient(build_app(settings, token_verifier=tokens.verifier)) as client:
        response = client.get(f"/resumes/{RESUME_ID}")
        assert response.json() == {
            "resume_id": RESUME_ID,
            "user_id": "owner-1",
            "title": "Zoë's CV",
            "summary": None,
            "skills": ["Python"],
            "experience": None,
            "education": None,
            "created_at": "2026-12-01T00:00:00.000000+00:00",
            "updated_at": "2026-12-01T00:00:00.000000+00:00",
        }
        assert response.headers["ETag"] == '"v3"'
        assert client.get("/resumes/user/owner-1").content == response.content
