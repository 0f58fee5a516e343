"""The persisted-read floor: bare Starlette sending one resume read by primary key from SQLite.

No FastAPI, logging, metrics, request ids or auth: only what any read of a persisted resume
must do at least (one indexed SELECT in WAL mode of a JSON document stored ready to send, as
the resume service stores it, and the response with its ETag), under the same uvicorn
command line as our services. The distance between bare Starlette and this is the price of
persistence itself on the machine; no service that reads its data from SQLite per request
can be faster.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_SELECT = "SELECT document, version FROM resumes WHERE resume_id = ?"
# The bench reads this id: the resume a gateway URL ``/resume/resumes/hello`` names.
SAMPLE_ID = "hello"
_SAMPLE = {
    "resume_id": SAMPLE_ID,
    "user_id": "user-1",
    "title": "Senior Python Engineer",
    "summary": "Builds fast, boring, reliable services.",
    "skills": ["Python", "FastAPI", "PostgreSQL", "Nginx"],
    "experience": "10 years of backend work.",
    "education": "BSc Computer Science",
    "created_at": "2026-12-01T00:00:00.000000+00:00",
    "updated_at": "2026-12-01T00:00:00.000000+00:00",
}


def open_database(path: Path) -> sqlite3.Connection:
    """The database at ``path`` (WAL, autocommit), with the sample resume in it."""
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute(
        "CREATE TABLE IF NOT EXISTS resumes"
        " (resume_id TEXT PRIMARY KEY, document TEXT NOT NULL, version INTEGER NOT NULL)"
    )
    writer.execute(
        "INSERT OR REPLACE INTO resumes VALUES (?, ?, 1)",
        (SAMPLE_ID, json.dumps(_SAMPLE, ensure_ascii=False, separators=(",", ":"))),
    )
    writer.close()
    # The same connection settings as the resume service's fast reader.
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.execute("PRAGMA busy_timeout=0")
    reader.execute("PRAGMA query_only=ON")
    return reader


_database = open_database(Path(os.environ.get("BENCH_SQLITE_PATH", "sqlite-read.db")))


async def read_resume(request: Request) -> Response:
    """One resume by id, as the resume service answers it."""
    row = _database.execute(_SELECT, (request.path_params["resume_id"],)).fetchone()
    if row is None:
        return JSONResponse({"detail": "Resume not found"}, status_code=404)
    document, version = row
    return Response(
        document.encode(), media_type="application/json", headers={"ETag": f'"v{version}"'}
    )


async def ready(request: Request) -> Response:
    """Up once the database is open (at import)."""
    return Response(status_code=200)


# Shared with the FastAPI floor (sqlite_read_fastapi), which mounts the very same routes.
routes = [Route("/readyz", ready), Route("/{prefix:path}/{resume_id}", read_resume)]
app = Starlette(routes=routes)
