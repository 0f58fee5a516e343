"""The read path: GET a resume by id, through the gateway and directly."""

from __future__ import annotations

import statistics

from bench.context import Context
from bench.peers.servers import starlette_ceiling
from bench.platform import expect, json_of
from bench.results import Measurement, ScenarioResult, ScenarioUnavailable, ratio
from bench.scenarios.ceilings import (
    behind_gateway,
    fastapi_via_gateway,
    sqlite_read_via_gateway,
    starlette_via_gateway,
)

# The seed's in-memory stub reached this share of bare Starlette through its gateway.
SEED_STUB_SHARE_OF_BARE = 0.47


def resume_path(ctx: Context) -> str:
    """``/resumes/<id>`` of a resume created for the run by a signed-up user."""
    if "resume-path" not in ctx.fixtures:
        user = ctx.platform.user("reader")
        body = {
            "user_id": user.user_id,
            "title": "Senior Python Engineer",
            "summary": "Builds fast, boring, reliable services.",
            "skills": ["Python", "FastAPI", "PostgreSQL", "Nginx"],
            "experience": "10 years of backend work.",
            "education": "BSc Computer Science",
        }
        with ctx.platform.client() as client:
            created = json_of(
                client.post("/resume/resumes", json=body, headers=user.headers), 200, 201
            )
            resume_id = expect(
                lambda: str(created.get("id") or created["resume_id"]), "reading the resume id"
            )
            json_of(client.get(f"/resume/resumes/{resume_id}"), 200)
        ctx.fixtures["resume-path"] = f"/resumes/{resume_id}"
    path: str = ctx.fixtures["resume-path"]
    return path


def resume_via_gateway(ctx: Context) -> Measurement:
    """GET a resume through the gateway."""
    url = f"{ctx.platform.stack.gateway_url}/resume{resume_path(ctx)}"
    load = ctx.http_load(url, server_pid=ctx.platform.stack.pid("resume"))
    return checked(load.measurement("ours: GET resume via gateway"))


def resume_direct(ctx: Context) -> Measurement:
    """GET a resume on the service's own port."""
    url = f"{ctx.platform.stack.service_url('resume')}{resume_path(ctx)}"
    load = ctx.http_load(url, server_pid=ctx.platform.stack.pid("resume"))
    return checked(load.measurement("ours: GET resume direct"))


def checked(measurement: Measurement) -> Measurement:
    """A read that answered errors measured nothing worth comparing."""
    errors = measurement.details["errors"]
    if sum(errors.values()) > measurement.details["requests"] // 100:
        raise ScenarioUnavailable(f"{measurement.subject}: too many errors {errors}")
    return measurement


def gateway_overhead(ctx: Context, result: ScenarioResult) -> None:
    """Throughput via the gateway as a share of the direct throughput."""
    direct = result.measure(ctx.figure("resume-direct", lambda: resume_direct(ctx)))
    via = result.measure(ctx.figure("resume-gateway", lambda: resume_via_gateway(ctx)))
    result.target("gateway / direct throughput", ratio(via.value, direct.value), 0.85, unit="x")


def alternating_shares(ctx: Context) -> list[float]:
    """Ours / bare Starlette through the gateway, measured in turns (ours, bare, ours, ...):
    one share per pair of turns, so that a machine that speeds up or slows down during the
    run moves both sides of each pair alike (two-second turns in the full profile)."""
    ours_url = f"{ctx.platform.stack.gateway_url}/resume{resume_path(ctx)}"
    turns = max(2, round(ctx.profile.http_seconds / 2))
    seconds = ctx.profile.http_seconds / turns
    shares = []
    with (
        starlette_ceiling(ctx.log_dir, ctx.bench_python) as server,
        behind_gateway(ctx, server) as bare_url,
    ):
        ctx.http_load(bare_url, warm_up=False, seconds=ctx.profile.warmup_seconds)
        for _ in range(turns):
            ours = ctx.http_load(ours_url, warm_up=False, seconds=seconds)
            bare = ctx.http_load(bare_url, warm_up=False, seconds=seconds)
            checked(ours.measurement("ours: GET resume via gateway, one turn"))
            checked(bare.measurement("bare Starlette via gateway, one turn"))
            if not bare.requests:
                raise ScenarioUnavailable("alternating turns: bare Starlette answered nothing")
            shares.append(ours.requests_per_second / bare.requests_per_second)
    return shares


def read_path(ctx: Context, result: ScenarioResult) -> None:
    """Our read path as a share of the bare Starlette ceiling, both through the gateway."""
    via = result.measure(ctx.figure("resume-gateway", lambda: resume_via_gateway(ctx)))
    bare = result.measure(ctx.figure("starlette-gateway", lambda: starlette_via_gateway(ctx)))
    # The target compares the two in alternating turns; one long measurement of each after
    # the other (above, and in the charts) is exposed to the machine's drift in between.
    shares = alternating_shares(ctx)
    share = statistics.median(shares)
    result.target("ours / bare Starlette, both via gateway (median of turns)", share, 0.6, unit="x")
    result.target("above the seed stub's share of bare", share, SEED_STUB_SHARE_OF_BARE, unit="x")
    result.notes.append(
        "ours / bare Starlette in alternating turns: "
        + ", ".join(f"{value:.2f}x" for value in shares)
        + f"; one after the other: {ratio(via.value, bare.value):.2f}x"
    )
    # The framework's own ceiling: what any FastAPI service can reach at best here.
    fastapi = result.measure(ctx.figure("fastapi-gateway", lambda: fastapi_via_gateway(ctx)))
    result.notes.append(
        f"bare FastAPI (no database, auth, logging or metrics) reaches "
        f"{ratio(fastapi.value, bare.value):.2f}x of bare Starlette via the same gateway; "
        f"ours is {ratio(via.value, fastapi.value):.2f}x of bare FastAPI"
    )
    # The persistence floor: what a service reading SQLite per request can reach at best,
    # on bare Starlette and on FastAPI (the services' framework).
    starlette_floor = result.measure(
        ctx.figure("sqlite-read-gateway", lambda: sqlite_read_via_gateway(ctx))
    )
    fastapi_floor = result.measure(
        ctx.figure("sqlite-read-fastapi", lambda: sqlite_read_via_gateway(ctx, fastapi=True))
    )
    result.notes.append(
        "doing nothing but send one stored JSON document read by primary key from SQLite, "
        f"bare Starlette reaches {ratio(starlette_floor.value, bare.value):.2f}x and FastAPI "
        f"{ratio(fastapi_floor.value, bare.value):.2f}x of bare Starlette via the same gateway "
        "(the floors of any persisted read here)"
    )
    # The load generator and the gateway share the cores: when they starve, every ratio
    # above drifts toward 1. The CPU a request costs the server process does not.
    cpu = {m.subject: m.details.get("server_cpu_us_per_request") for m in result.measurements}
    ceiling = cpu[bare.subject]
    if ceiling and all(cpu.values()):
        result.notes.append(
            "server CPU per request (share of bare Starlette's): "
            + ", ".join(f"{name} {us:.0f} us ({ceiling / us:.2f}x)" for name, us in cpu.items())
        )
