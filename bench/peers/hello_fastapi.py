"""The framework ceiling: a bare FastAPI "hello", the services' framework with nothing else.

Run from the services' own virtualenv (their pinned FastAPI), under the same uvicorn command
line. The gap between bare Starlette and this is what FastAPI itself costs before a service
adds a database, auth, logging or metrics.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/{path:path}")
async def hello(path: str) -> dict[str, str]:
    """Answer every GET with a tiny JSON document."""
    return {"message": "hello"}
