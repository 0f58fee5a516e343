"""Errors the basement's domain raises for clients: each knows its HTTP status and detail."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


class ClientError(Exception):
    """A request the service refuses; answered as ``{"detail": ...}`` with ``status_code``."""

    status_code = 400

    def __init__(self, detail: str, status_code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code


class NotFound(ClientError):
    """The thing asked for does not exist."""

    status_code = 404


class Forbidden(ClientError):
    """The caller may not do this."""

    status_code = 403


class Unprocessable(ClientError):
    """Well-formed, but not acceptable."""

    status_code = 422


async def client_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer a ``ClientError`` with its status and detail."""
    assert isinstance(exc, ClientError)
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail})
