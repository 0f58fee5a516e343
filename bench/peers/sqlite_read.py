"""The persisted-read floor: bare Starlette answering one SQLite primary-key read as JSON.

No FastAPI, logging, metrics, request ids or auth: only what any read of a persisted resume
must do at least (one indexed SELECT in WAL mode, one JSON body with an ETag), under the
same uvicorn command line as our services. The distance between bare Starlette and this is
the price of persistence itself on the machine; no service that reads its data from SQLite
per request can be faster.
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

_COLUMNS = (
    "resume_id",
    "user_id",
    "title",
    "summary",
    "skills",
    "experience",
    "education",
    "created_at",
    "updated_at",
    "version",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM resumes WHERE resume_id = ?"  # noqa: S608
# The bench reads this id: the resume a gateway URL ``/resume/resumes/hello`` names.
SAMPLE_ID = "hello"


def open_database(path: Path) -> sqlite3.Connection:
    """The database at ``path`` (WAL, autocommit), with the sample resume in it."""
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute(
        f"CREATE TABLE IF NOT EXISTS resumes ({', '.join(_COLUMNS)}, PRIMARY KEY (resume_id))"
    )
    writer.execute(
        f"INSERT OR REPLACE INTO resumes VALUES ({', '.join('?' * len(_COLUMNS))})",  # noqa: S608
        (
            SAMPLE_ID,
            "user-1",
            "Senior Python Engineer",
            "Builds fast, boring, reliable services.",
            json.dumps(["Python", "FastAPI", "PostgreSQL", "Nginx"]),
            "10 years of backend work.",
            "BSc Computer Science",
            "2026-12-01T00:00:00+00:00",
            "2026-12-01T00:00:00+00:00",
            1,
        ),
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
    document = dict(zip(_COLUMNS, row, strict=True))
    document["skills"] = json.loads(document["skills"])
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return Response(body, media_type="application/json", headers={"ETag": f'"{row[-1]}"'})


async def ready(request: Request) -> Response:
    """Up once the database is open (at import)."""
    return Response(status_code=200)


# Shared with the FastAPI floor (sqlite_read_fastapi), which mounts the very same routes.
routes = [Route("/readyz", ready), Route("/{prefix:path}/{resume_id}", read_resume)]
app = Starlette(routes=routes)
