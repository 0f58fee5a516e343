"""Start-up: each service from process start to ``/readyz`` 200 (restarts on a migrated DB)."""

from __future__ import annotations

import statistics
import time

from bench.context import Context
from bench.procs import wait_for_status
from bench.results import Measurement, ScenarioResult

TIMEOUT = 30.0


def run(ctx: Context, result: ScenarioResult) -> None:
    """Restart every service a few times, one at a time, and time it until ready."""
    stack = ctx.platform.stack
    for name in ctx.profile.startup_services or stack.services:
        timings = []
        for _ in range(ctx.profile.startup_runs):
            stack.stop_service(name)
            started = time.perf_counter()
            stack.start_service(name, wait=False)
            if not wait_for_status(f"{stack.service_url(name)}/readyz", 200, TIMEOUT, poll=0.005):
                result.notes.append(f"{name} was not ready within {TIMEOUT:.0f}s")
                break
            timings.append(time.perf_counter() - started)
        if not timings:
            continue
        seconds = statistics.median(timings)
        result.measure(
            Measurement(
                f"ours: {name}",
                seconds,
                "s",
                higher_is_better=False,
                details={"runs_s": [round(t, 3) for t in timings]},
            )
        )
        result.target(f"{name} start-up", seconds, 1.5, at_least=False, unit="s")
    result.notes.append(
        "median of restarts with the other services up; includes the interpreter and imports"
    )
