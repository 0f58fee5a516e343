"""The bare Starlette ceiling: a "hello" JSON answer on every path, nothing else.

Served by the same uvicorn command line as our services (see devstack), so the distance
between this and a service is what the service itself costs.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request: Request) -> JSONResponse:
    """Answer every GET with a tiny JSON document."""
    return JSONResponse({"message": "hello"})


app = Starlette(routes=[Route("/{path:path}", hello)])
