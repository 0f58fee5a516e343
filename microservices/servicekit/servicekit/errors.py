"""One error shape for every service: ``{"detail": ...}``, as FastAPI answers by default."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from servicekit.logging import request_id_var

logger = logging.getLogger("servicekit.errors")


class ClientError(Exception):
    """A request the service refuses, answered as ``{"detail": ...}`` with ``status_code``.

    Domain code raises subclasses that name the refusal (``PaymentNotFound``); each carries
    its HTTP status and a default message, so routes stay free of status-code mapping.
    """

    status_code: int = 400
    detail: str = "Bad request"
    headers: dict[str, str] | None = None

    def __init__(
        self,
        detail: str | None = None,
        status_code: int | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        if status_code is not None:
            self.status_code = status_code
        if headers is not None:
            self.headers = headers


class NotFound(ClientError):
    """The thing asked for does not exist."""

    status_code = 404
    detail = "Not found"


class Forbidden(ClientError):
    """The caller is known but may not do this."""

    status_code = 403
    detail = "Not allowed"


class Unprocessable(ClientError):
    """Well-formed, but not acceptable."""

    status_code = 422
    detail = "Unprocessable request"


async def client_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer a ``ClientError`` with its status, detail and headers."""
    assert isinstance(exc, ClientError)
    return JSONResponse(
        status_code=exc.status_code, content={"detail": exc.detail}, headers=exc.headers
    )


def _without_input(errors: Any) -> list[dict[str, Any]]:
    # Pydantic echoes the rejected value back; for a password field that is a leak.
    return [{k: v for k, v in error.items() if k not in ("input", "url")} for error in errors]


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """422 with FastAPI's list of errors, minus the submitted values."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        status_code=422, content={"detail": jsonable_encoder(_without_input(exc.errors()))}
    )


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """500 that names the request id and nothing of the failure itself (the observability
    middleware, around the whole app, puts the same id in the ``X-Request-ID`` header)."""
    request_id = request_id_var.get()
    logger.exception("unhandled error", exc_info=exc, extra={"request_id": request_id})
    return JSONResponse(
        status_code=500, content={"detail": "Internal Server Error", "request_id": request_id}
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the shared handlers on an app."""
    app.add_exception_handler(ClientError, client_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
