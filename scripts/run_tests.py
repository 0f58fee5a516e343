"""`make test`: lint, every service's own suite, the system tests; one summary at the end.

Each service's suite runs in its own directory and process (each service's package is called
`app`, exactly as inside its container). Exits non-zero when anything failed or no test ran.
"""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("accounts", "payments", "chat", "basement", "resume")
REPORTS = ROOT / ".test-reports"
CHECK_CONTAINERS = ROOT / "scripts" / "check_containers.py"


@dataclass
class StepResult:
    name: str
    returncode: int
    seconds: float
    passed: int = 0
    failed: int = 0
    skipped: int = 0


def run(name: str, command: list[str], cwd: Path, report: Path | None = None) -> StepResult:
    """Run one step, streaming its output, and count its tests from the JUnit report."""
    print(f"\n=== {name}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    returncode = subprocess.run(command, cwd=cwd, check=False).returncode
    result = StepResult(name, returncode, time.monotonic() - started)
    if report is not None and report.exists():
        root = ET.parse(report).getroot()  # noqa: S314 - our own pytest's report
        for suite in root.iter("testsuite"):
            tests = int(suite.get("tests", 0))
            failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            result.passed += tests - failed - skipped
            result.failed += failed
            result.skipped += skipped
    return result


def pytest_step(name: str, cwd: Path, *args: str) -> StepResult:
    """A pytest run with a JUnit report to count from."""
    report = REPORTS / f"{name}.xml"
    report.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={report}",
        *args,
    ]
    return run(name, command, cwd, report)


def containers_step() -> StepResult:
    """hadolint, compose, the gateway template, actionlint, Dependabot: no Docker engine needed."""
    report = REPORTS / "containers.xml"
    report.unlink(missing_ok=True)
    command = [sys.executable, str(CHECK_CONTAINERS), "static", f"--junitxml={report}"]
    return run("containers", command, ROOT, report)


def parity_step(service: str) -> StepResult:
    """A service's suite and its CMD, in a virtualenv built like its image."""
    report = REPORTS / f"{service}.xml"
    report.unlink(missing_ok=True)
    command = [sys.executable, str(CHECK_CONTAINERS), "parity", service, f"--junitxml={report}"]
    return run(service, command, ROOT, report)


def bench_steps() -> list[StepResult]:
    """The benchmarks type-checked against their own virtualenv, then their smoke profile:
    the same code with tiny numbers, so it never rots.

    The smoke run fails only when the harness itself is broken; missed targets are not failures.
    """
    setup = subprocess.run(["make", "--no-print-directory", "bench-venv"], cwd=ROOT, check=False)
    wrk = subprocess.run([str(ROOT / "scripts" / "ensure-wrk")], cwd=ROOT, check=False)
    if setup.returncode or wrk.returncode:
        return [StepResult("bench-smoke", setup.returncode or wrk.returncode, 0.0)]
    python = str(ROOT / ".bench-venv" / "bin" / "python")
    mypy = [sys.executable, "-m", "mypy", "--python-executable", python, "bench"]
    return [
        run("mypy-bench", mypy, ROOT),
        run("bench-smoke", [python, "-m", "bench", "--profile", "smoke"], ROOT),
    ]


def main() -> int:
    """Run every step, print a summary table and the closing counts."""
    REPORTS.mkdir(exist_ok=True)
    results = [
        run("ruff", [sys.executable, "-m", "ruff", "check", "."], ROOT),
        run("ruff-format", [sys.executable, "-m", "ruff", "format", "--check", "."], ROOT),
        run("mypy", [sys.executable, "-m", "mypy"], ROOT),
    ]
    # Each service (and servicekit) is type-checked and tested from its own directory: every
    # service's package is called `app`, and its tests are called `tests`, as in its image.
    config = str(ROOT / "pyproject.toml")
    kit_dir = ROOT / "microservices" / "servicekit"
    kit_mypy = [sys.executable, "-m", "mypy", "--config-file", config, "servicekit", "tests"]
    results.append(run("mypy-servicekit", kit_mypy, kit_dir))
    for service in SERVICES:
        service_dir = ROOT / "microservices" / service
        mypy = [sys.executable, "-m", "mypy", "--config-file", config, "app", "tests"]
        results.append(run(f"mypy-{service}", mypy, service_dir))
    results.append(pytest_step("servicekit", kit_dir))
    results.append(containers_step())
    # Each service's suite runs once, in its image rebuilt as a virtualenv (only its own
    # requirements, only the files its Dockerfile copies), which then serves /healthz with the
    # Dockerfile's CMD: a missing requirement or COPY fails here (scripts/check_containers.py).
    for service in SERVICES:
        results.append(parity_step(service))
    results.append(pytest_step("system", ROOT, "tests"))
    results.extend(bench_steps())

    print("\n=== summary")
    for result in results:
        status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
        counts = (
            f"{result.passed} passed, {result.failed} failed"
            if result.passed or result.failed
            else ""
        )
        print(f"  {result.name:<14} {status:<20} {counts:<28} {result.seconds:6.1f}s")
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    skipped = sum(r.skipped for r in results)
    broken = [r.name for r in results if r.returncode != 0]
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    if broken:
        print(f"failing steps: {', '.join(broken)}")
        return 1
    if passed == 0:
        print("no test ran")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
