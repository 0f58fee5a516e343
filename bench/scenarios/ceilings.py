"""The ceilings: how fast this machine answers HTTP with nothing behind it.

Nginx answering ``return 200`` itself bounds any proxy; a bare Starlette "hello" under the
services' uvicorn settings bounds any service, directly and through the same gateway.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bench.context import Context
from bench.peers.servers import (
    base_url,
    fastapi_ceiling,
    nginx_ceiling,
    sqlite_read_floor,
    starlette_ceiling,
)
from bench.procs import Server
from bench.results import Measurement, ScenarioResult
from devstack import Stack


def nginx_return_200(ctx: Context) -> Measurement:
    """Nginx ``return 200`` with the gateway's worker settings."""
    with nginx_ceiling(ctx.work_dir / "nginx-ceiling") as server:
        return ctx.http_load(base_url(server) + "/").measurement("Nginx return 200 (ceiling)")


def starlette_direct(ctx: Context) -> Measurement:
    """Bare Starlette on its own port."""
    with starlette_ceiling(ctx.log_dir, ctx.bench_python) as server:
        url = base_url(server) + "/hello"
        return ctx.http_load(url, server_pid=server.pid).measurement("bare Starlette direct")


@contextmanager
def behind_gateway(ctx: Context, server: Server) -> Iterator[str]:
    """The platform's gateway config with ``server`` in place of resume; yields the URL of
    ``/resume/resumes/hello`` through it."""
    gateway = Stack(
        data_dir=ctx.work_dir / "ceiling-gateway",
        services=(),
        gateway={"GATEWAY_RESUME_SERVERS": f"server {base_url(server)[7:]};"},
    )
    try:
        gateway.start()
        yield f"{gateway.gateway_url}/resume/resumes/hello"
    finally:
        gateway.stop()


def _via_gateway(ctx: Context, server: Server, subject: str) -> Measurement:
    with behind_gateway(ctx, server) as url:
        return ctx.http_load(url, server_pid=server.pid).measurement(subject)


def starlette_via_gateway(ctx: Context) -> Measurement:
    """Bare Starlette behind the platform's own gateway config, in place of resume."""
    with starlette_ceiling(ctx.log_dir, ctx.bench_python) as server:
        return _via_gateway(ctx, server, "bare Starlette via gateway")


def fastapi_via_gateway(ctx: Context) -> Measurement:
    """Bare FastAPI (the services' framework, nothing else) behind the same gateway config."""
    with fastapi_ceiling(ctx.log_dir) as server:
        return _via_gateway(ctx, server, "bare FastAPI via gateway")


def sqlite_read_via_gateway(ctx: Context, *, fastapi: bool = False) -> Measurement:
    """One SQLite read and nothing else (the persisted-read floor), behind the same gateway."""
    framework = "FastAPI" if fastapi else "Starlette"
    work_dir = ctx.work_dir / f"sqlite-read-{framework.lower()}"
    work_dir.mkdir(parents=True, exist_ok=True)
    database = work_dir / "resumes.db"
    with sqlite_read_floor(ctx.log_dir, database, ctx.bench_python, fastapi=fastapi) as server:
        return _via_gateway(ctx, server, f"bare {framework} + one SQLite read via gateway")


def run(ctx: Context, result: ScenarioResult) -> None:
    """Measure the three ceilings (cached for the scenarios that compare to them)."""
    result.measure(ctx.figure("nginx", lambda: nginx_return_200(ctx)))
    result.measure(ctx.figure("starlette-direct", lambda: starlette_direct(ctx)))
    result.measure(ctx.figure("starlette-gateway", lambda: starlette_via_gateway(ctx)))
    result.notes.append(
        "reference on this kind of machine: Nginx ~156k req/s, bare Starlette ~12.7k req/s"
    )
