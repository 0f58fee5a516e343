"""What every scenario gets: the profile, a scratch directory, the platform, shared figures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.platform import Platform
from bench.procs import cpu_seconds
from bench.profiles import Profile
from bench.results import Measurement
from bench.wrk import WrkResult, run_wrk


@dataclass
class Context:
    """Shared state of one run. ``figures`` caches measurements other scenarios compare to."""

    profile: Profile
    work_dir: Path
    platform: Platform
    redis_url: str = "redis://127.0.0.1:6379/0"
    bench_python: str = sys.executable
    figures: dict[str, Measurement] = field(default_factory=dict)
    # Things set up once per run (users' resources, ids) that several scenarios use.
    fixtures: dict[str, Any] = field(default_factory=dict)

    @property
    def log_dir(self) -> Path:
        """Where peers write their logs."""
        path = self.work_dir / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def http_load(
        self,
        url: str,
        *,
        connections: int | None = None,
        script: str | None = None,
        script_args: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
        warm_up: bool = True,
        server_pid: int | None = None,
        seconds: float | None = None,
    ) -> WrkResult:
        """A warm-up run (unless the profile has none), then the measured wrk run.

        With ``server_pid``, the result also has the CPU that process spent per request: on
        a machine whose cores the load generator shares, the steadiest figure to compare.
        """

        def load(seconds: float) -> WrkResult:
            return run_wrk(
                url,
                seconds=seconds,
                connections=connections or self.profile.http_connections,
                threads=self.profile.wrk_threads,
                script=script,
                script_args=script_args,
                headers=headers,
            )

        if warm_up and self.profile.warmup_seconds > 0:
            load(self.profile.warmup_seconds)
        measured = seconds or self.profile.http_seconds
        if server_pid is None:
            return load(measured)
        before = cpu_seconds(server_pid)
        result = load(measured)
        return replace(result, server_cpu_seconds=cpu_seconds(server_pid) - before)

    def figure(self, key: str, measure: Callable[[], Measurement]) -> Measurement:
        """A measurement shared between scenarios, measured once per run."""
        if key not in self.figures:
            self.figures[key] = measure()
        return self.figures[key]
