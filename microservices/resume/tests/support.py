"""Helpers the resume tests share: the seed's example, a resume factory, a marker."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicekit.testing import TokenFactory

# The seed's example request, as its README shows it.
SEED_RESUME: dict[str, Any] = {
    "user_id": "user-123",
    "title": "Software Engineer",
    "summary": "Experienced developer",
    "skills": ["Python", "FastAPI"],
    "experience": "5 years",
    "education": "BS in CS",
}

# For tests of the HTTP surface alone (rejected before any query): one database is enough.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Resumes:
    """Shortcuts for tests that need resumes to exist: create them as their owners would."""

    def __init__(self, client: TestClient, tokens: TokenFactory) -> None:
        self.client = client
        self.tokens = tokens

    def create(self, user_id: str | None = None, **fields: Any) -> dict[str, Any]:
        """Create a resume for ``user_id`` (a new user when omitted) with the owner's token."""
        owner = user_id or str(uuid.uuid4())
        body = {"title": "Engineer", **fields, "user_id": owner}
        response = self.client.post("/resumes", json=body, headers=self.tokens.headers(owner))
        assert response.status_code == 200, response.text
        created: dict[str, Any] = response.json()
        return created
