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
    """500 that names the request id and nothing of the failure itself."""
    request_id: str = getattr(request.state, "request_id", "") or request_id_var.get()
    logger.exception("unhandled error", exc_info=exc, extra={"request_id": request_id})
    return JSONResponse(
        status_code=500,
        content={"detail": "Internal Server Error", "request_id": request_id},
        headers={"X-Request-ID": request_id} if request_id else None,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the shared handlers on an app."""
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
