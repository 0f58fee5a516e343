"""Chat: fan-out against Django Channels, and many idle sockets with a few active ones."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import uvloop
from websockets.exceptions import InvalidHandshake, WebSocketException

from bench.context import Context
from bench.peers.servers import base_url, django_chat
from bench.procs import rss_bytes
from bench.results import Measurement, ScenarioResult, ScenarioUnavailable, ratio
from bench.wsload import FanoutStep
from bench.wsload import fan_out as fan_out_load
from bench.wsload import scale as scale_load

T = TypeVar("T")
ROOM = "bench-fanout"
# The target's latency bound is stated at this rate of deliveries.
TARGET_DELIVERIES = 20_000


def run_load(load: Awaitable[T], who: str) -> T:
    """Run a WebSocket load; a refused handshake means the server cannot take part yet."""
    try:
        return uvloop.run(_awaited(load))
    except (InvalidHandshake, WebSocketException, OSError, TimeoutError) as exc:
        raise ScenarioUnavailable(f"{who}: {type(exc).__name__}: {exc}"[:300]) from exc


async def _awaited(load: Awaitable[T]) -> T:
    return await load


def fanout_measurement(subject: str, steps: list[FanoutStep]) -> Measurement:
    """The highest delivery rate sustained (nothing lost, no backlog), with every step."""
    kept = [step for step in steps if step.kept_up]
    best = max(kept, key=lambda step: step.delivered_per_second, default=None)
    return Measurement(
        subject=subject,
        value=best.delivered_per_second if best else 0.0,
        unit="deliveries/s",
        p50_ms=best.p50_ms if best else None,
        p99_ms=best.p99_ms if best else None,
        details={
            "steps": [
                {
                    "messages_per_s": step.rate,
                    "offered_deliveries_per_s": round(step.offered_per_second),
                    "delivered_per_s": round(step.delivered_per_second),
                    "expected": step.expected,
                    "delivered": step.delivered,
                    "p50_ms": step.p50_ms,
                    "p99_ms": step.p99_ms,
                    "kept_up": step.kept_up,
                    "load_generator_cpu": round(step.client_cpu, 2),
                }
                for step in steps
            ]
        },
    )


def measure_fanout(ctx: Context, subject: str, url: str) -> tuple[Measurement, list[FanoutStep]]:
    """Fan-out through ``url`` (a ws:// URL of one room) with the profile's rates."""
    profile = ctx.profile
    steps = run_load(
        fan_out_load(
            url, profile.fanout_receivers, profile.fanout_rates, profile.fanout_step_seconds
        ),
        subject,
    )
    return fanout_measurement(subject, steps), steps


def django_fanout(ctx: Context, layer: str) -> Measurement:
    """The Django Channels peer with one channel layer."""
    with django_chat(ctx.log_dir, layer, ctx.redis_url, ctx.bench_python) as server:
        url = base_url(server).replace("http://", "ws://") + f"/ws/{ROOM}"
        return measure_fanout(ctx, f"Django Channels ({layer} layer) direct", url)[0]


def fan_out(ctx: Context, result: ScenarioResult) -> None:
    """Ours (direct and via the gateway) against Django Channels, same client, same rates."""
    peers: dict[str, Measurement] = {}
    for layer in ("memory", "redis"):
        try:
            peers[layer] = result.measure(django_fanout(ctx, layer))
        except ScenarioUnavailable as exc:
            result.notes.append(f"Django Channels ({layer}) not measured: {exc}")
    stack = ctx.platform.stack
    ours, _ = measure_fanout(
        ctx, "ours: chat direct", f"ws://127.0.0.1:{stack.port('chat')}/ws/{ROOM}"
    )
    result.measure(ours)
    via, via_steps = measure_fanout(
        ctx, "ours: chat via gateway", f"ws://127.0.0.1:{stack.gateway_port}/chat/ws/{ROOM}"
    )
    result.measure(via)
    result.target(
        "ours / Django Channels (memory), direct",
        ratio(ours.value, peers["memory"].value if "memory" in peers else None),
        3.0,
        unit="x",
    )
    result.target(
        "ours / Django Channels (redis), direct",
        ratio(ours.value, peers["redis"].value if "redis" in peers else None),
        5.0,
        unit="x",
    )
    at_target = [
        step for step in via_steps if step.rate * ctx.profile.fanout_receivers == TARGET_DELIVERIES
    ]
    result.target(
        f"p99 via gateway at {TARGET_DELIVERIES:,} deliveries/s",
        at_target[0].p99_ms
        if at_target and at_target[0].delivered >= at_target[0].expected
        else None,
        50,
        at_least=False,
        unit="ms",
    )
    result.notes.append(
        "sustained = the best step with nothing lost and p99 < 500 ms; the load generator "
        "shares the 2 cores (its CPU share per step is in the JSON)"
    )


def scale(ctx: Context, result: ScenarioResult) -> None:
    """Idle sockets in rooms of ten, then active sockets in one room, through the gateway."""
    stack = ctx.platform.stack
    pid = stack.pid("chat")
    profile = ctx.profile
    found = run_load(
        scale_load(
            lambda room: f"ws://127.0.0.1:{stack.gateway_port}/chat/ws/{room}",
            idle=profile.scale_idle,
            active=profile.scale_active,
            messages_per_active=profile.scale_messages_per_active,
            seconds=profile.scale_seconds,
            server_rss=lambda: rss_bytes(pid),
        ),
        "ours: chat via gateway",
    )
    per_idle_kb = found.bytes_per_idle_connection / 1024
    result.measure(
        Measurement(
            subject="ours: memory per idle connection",
            value=per_idle_kb,
            unit="KB",
            higher_is_better=False,
            details={"rss_before": found.rss_before, "rss_with_idle": found.rss_idle},
        )
    )
    result.measure(
        Measurement(
            subject=f"ours: {found.active} active, deliveries",
            value=found.delivered,
            unit="messages",
            p99_ms=found.p99_ms,
            details={"expected": found.expected, "idle_still_open": found.idle_still_open},
        )
    )
    result.target("memory per idle connection", per_idle_kb, 50, at_least=False, unit="KB")
    result.target("messages lost among active sockets", found.lost, 1, at_least=False)
    result.target("idle connections dropped", found.idle - found.idle_still_open, 1, at_least=False)
