"""``python -m bench [--profile full|smoke] [--only a,b] [--out DIR]``.

Runs the scenarios in order, prints a table, writes ``<out>/<date>.json`` and PNG charts.
Exits non-zero only when the harness itself is broken (a scenario crashed, or the ceilings,
which need nothing of ours, measured nothing); missed targets and scenarios that cannot run
yet are reported, never failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform as python_platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench.charts import latency_chart, throughput_chart
from bench.context import Context
from bench.platform import Platform
from bench.profiles import PROFILES
from bench.results import ScenarioResult, ScenarioUnavailable, format_table, write_json
from bench.scenarios import SCENARIOS
from devstack.stack import ROOT, nginx_binary

RESULTS_DIR = ROOT / "bench" / "results"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument(
        "--only", default="", help="comma-separated scenario keys: " + ", ".join(SCENARIOS)
    )
    parser.add_argument(
        "--out", type=Path, help="results directory (full: bench/results; smoke: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir (logs, data)")
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    """The machine the figures come from."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "memory_gib": round(memory_kb / 1024**2, 1),
        "kernel": python_platform.release(),
        "python": python_platform.python_version(),
    }


def tool_versions() -> dict[str, str]:
    """Versions of the servers and the load generator."""

    def first_line(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return "missing"
        return (
            (done.stdout + done.stderr).strip().splitlines()[0]
            if (done.stdout + done.stderr).strip()
            else "?"
        )

    return {"nginx": first_line([nginx_binary(), "-v"]), "wrk": first_line(["wrk", "--version"])}


def raise_open_file_limit() -> None:
    """Chat scale holds thousands of sockets; child servers inherit the raised limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_scenario(ctx: Context, key: str) -> ScenarioResult:
    """Run one scenario; turn "cannot run yet" and crashes into a reported status."""
    title, scenario = SCENARIOS[key]
    result = ScenarioResult(key=key, title=title)
    print(f"--- {key}: {title}", flush=True)
    started = time.monotonic()
    try:
        scenario(ctx, result)
    except ScenarioUnavailable as exc:
        result.status, result.reason = "not available", str(exc)
    except Exception as exc:
        traceback.print_exc()
        result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"[:500]
    result.seconds = round(time.monotonic() - started, 2)
    print(f"    {result.status} in {result.seconds:.1f}s {result.reason[:200]}", flush=True)
    return result


def harness_problems(results: list[ScenarioResult]) -> list[str]:
    """What says the harness, not a service, is broken."""
    problems = [f"{r.key} crashed: {r.reason}" for r in results if r.status == "error"]
    for result in results:
        if result.key == "ceilings" and not all(m.value > 0 for m in result.measurements):
            problems.append("a ceiling measured nothing")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; see the module docstring."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    profile = PROFILES[args.profile]
    keys = [k.strip() for k in args.only.split(",") if k.strip()] or list(SCENARIOS)
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown:
        print(f"unknown scenarios: {', '.join(unknown)}", file=sys.stderr)
        return 2
    raise_open_file_limit()
    work_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    out_dir = args.out or (work_dir / "results" if profile.is_smoke else RESULTS_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    today = dt.date.today().isoformat()
    run_info: dict[str, Any] = {
        "date": today,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "profile": profile.name,
        "machine": machine(),
        "tools": tool_versions(),
        "note": "load generators (wrk, the Python WebSocket client) share the machine's cores",
        # Anything else running (other test suites...) shows here and depresses every figure.
        "load_average_at_start": os.getloadavg(),
    }
    print(f"bench: profile {profile.name}, machine {run_info['machine']}, scratch {work_dir}")
    ctx = Context(profile=profile, work_dir=work_dir, platform=Platform(work_dir))
    results: list[ScenarioResult] = []
    try:
        for key in keys:
            results.append(run_scenario(ctx, key))
    finally:
        ctx.platform.stop()
    run_info["seconds"] = round(sum(r.seconds for r in results), 1)

    print("\n" + format_table(results))
    json_path = out_dir / f"{today}.json"
    write_json(json_path, run_info, results)
    host = run_info["machine"]
    title = f"{today} · {profile.name} profile · {host['cpu']}, {host['cores']} cores"
    charts = [
        throughput_chart(results, out_dir / f"{today}-throughput.png", title),
        latency_chart(results, out_dir / f"{today}-latency.png", title),
    ]
    print(f"results: {json_path}")
    for chart in charts:
        if chart is not None:
            print(f"chart:   {chart}")
    problems = harness_problems(results)
    if not json_path.exists() or (any(r.measurements for r in results) and not any(charts)):
        problems.append("the results were not written")
    if not args.keep:
        shutil.rmtree(work_dir, ignore_errors=True)
    for problem in problems:
        print(f"harness problem: {problem}", file=sys.stderr)
    return 1 if problems else 0
