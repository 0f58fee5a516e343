"""Liveness, readiness and the Prometheus endpoint, mounted on every service."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from servicekit.observability import finished_requests

ReadinessCheck = Callable[[], Awaitable[None]]

logger = logging.getLogger("servicekit.health")
health_router = APIRouter(tags=["health"])

READINESS_TIMEOUT_SECONDS = 2.0


@health_router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process is up and serving."""
    return {"status": "ok"}


async def _run_check(name: str, check: ReadinessCheck) -> str | None:
    try:
        await asyncio.wait_for(check(), READINESS_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        logger.warning("readiness check failed", extra={"check": name, "error": repr(exc)})
        return f"{type(exc).__name__}"
    return None


@health_router.get("/readyz", responses={503: {"description": "A dependency is failing"}})
async def readyz(request: Request) -> JSONResponse:
    """Readiness: every dependency check (database, data dir, ...) passes, or 503 naming them."""
    checks: dict[str, ReadinessCheck] = request.app.state.readiness_checks
    results = await asyncio.gather(*(_run_check(n, c) for n, c in checks.items()))
    failing = {name: error for name, error in zip(checks, results, strict=True) if error}
    if failing:
        return JSONResponse(
            status_code=503,
            content={"status": "not ready", "detail": "Dependencies failing", "failing": failing},
        )
    return JSONResponse({"status": "ready"})


@health_router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus metrics of this process (or of all workers in multiprocess mode)."""
    finished_requests.settle()  # the requests this loop turn finished count too
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
