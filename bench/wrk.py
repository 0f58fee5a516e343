"""HTTP load from a separate process: wrk, with a Lua report that bench can parse."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.results import Measurement

LUA_DIR = Path(__file__).resolve().parent / "lua"
_MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    counters: dict[str, int] = field(default_factory=dict)
    # CPU the server process spent during the run, when the caller measured it.
    server_cpu_seconds: float | None = None

    @property
    def server_cpu_us_per_request(self) -> float | None:
        """The server's CPU per completed request, in microseconds (None if not measured)."""
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return self.server_cpu_seconds / self.requests * 1e6

    @property
    def requests_per_second(self) -> float:
        """Completed requests per second, answers of any status included."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        """Socket errors plus answers with a status of 400 or more."""
        return sum(self.errors.values())

    def measurement(self, subject: str, *, value: float | None = None) -> Measurement:
        """This run as a Measurement in req/s (or ``value`` when counted otherwise)."""
        return Measurement(
            subject=subject,
            value=self.requests_per_second if value is None else value,
            unit="req/s",
            p50_ms=self.p50_ms,
            p99_ms=self.p99_ms,
            details={
                "requests": self.requests,
                "seconds": round(self.seconds, 3),
                "p90_ms": self.p90_ms,
                "max_ms": self.max_ms,
                "errors": self.errors,
                "counters": self.counters,
                "server_cpu_us_per_request": self.server_cpu_us_per_request,
            },
        )


def wrk_binary() -> str:
    """Path of wrk (``scripts/ensure-wrk`` installs it)."""
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed: run scripts/ensure-wrk")
    return found


def run_wrk(
    url: str,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    script: str | None = None,
    script_args: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
    timeout_seconds: float = 5.0,
) -> WrkResult:
    """Run wrk against a loopback ``url`` for ``seconds`` and parse its report.

    ``script`` names a Lua file in ``bench/lua`` (without ``.lua``); the JSON report is
    appended to it either way.
    """
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError(f"benchmarks only target loopback addresses, not {url}")
    duration = max(1, round(seconds))
    lua = (LUA_DIR / f"{script}.lua").read_text() if script else ""
    lua += "\n" + (LUA_DIR / "report.lua").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(lua)
        script_path = handle.name
    command = [
        wrk_binary(),
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{duration}s",
        f"--timeout={timeout_seconds:g}s",
        "--latency",
        "-s",
        script_path,
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command += [url, "--", *script_args]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 30, check=False
        )
    finally:
        Path(script_path).unlink(missing_ok=True)
    for line in completed.stdout.splitlines():
        if line.startswith(_MARKER):
            report = json.loads(line[len(_MARKER) :])
            break
    else:
        raise RuntimeError(
            f"wrk printed no report (exit {completed.returncode}):\n"
            f"{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
        )
    latency = report["latency_us"]
    return WrkResult(
        requests=report["requests"],
        seconds=report["duration_us"] / 1e6,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        errors=report["errors"],
        counters=report["counters"],
    )
