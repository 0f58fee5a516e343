"""The persisted-read floor on the services' framework: FastAPI answering one SQLite read.

The same handler and database as ``sqlite_read`` (bare Starlette), mounted the way the resume
service mounts its hot read: a plain Starlette route on a FastAPI app with telemetry off. Run
from the services' virtualenv (their pinned FastAPI). Nothing else: no logging, metrics,
request ids or auth, so no FastAPI service that reads SQLite per request can be faster.
"""

from __future__ import annotations

from fastapi import FastAPI

from bench.peers.sqlite_read import routes

app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})
app.router.routes.extend(routes)
