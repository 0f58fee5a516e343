"""What a run found: measurements and targets per scenario, as a table and as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["ok", "not available", "error"]


class ScenarioUnavailable(Exception):
    """A scenario cannot run yet (a service or endpoint it needs is missing or refuses).

    Reported as "not available" with the reason; never a failure of the harness.
    """


@dataclass
class Measurement:
    """One subject measured in a scenario (ours via the gateway, a peer, a ceiling...)."""

    subject: str
    value: float
    unit: str
    higher_is_better: bool = True
    p50_ms: float | None = None
    p99_ms: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Target:
    """A target of the issue, checked against this run's figures."""

    description: str
    value: float | None
    threshold: float
    at_least: bool = True
    unit: str = ""

    @property
    def met(self) -> bool | None:
        """True or False, or None when the figure could not be measured."""
        if self.value is None:
            return None
        return self.value >= self.threshold if self.at_least else self.value < self.threshold


@dataclass
class ScenarioResult:
    """Everything one scenario reports."""

    key: str
    title: str
    status: Status = "ok"
    reason: str = ""
    seconds: float = 0.0
    measurements: list[Measurement] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def measure(self, measurement: Measurement) -> Measurement:
        """Record a measurement and hand it back."""
        self.measurements.append(measurement)
        return measurement

    def target(
        self,
        description: str,
        value: float | None,
        threshold: float,
        *,
        at_least: bool = True,
        unit: str = "",
    ) -> None:
        """Record a target check."""
        self.targets.append(Target(description, value, threshold, at_least, unit))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, with each target's verdict spelled out."""
        data = asdict(self)
        for target, as_dict in zip(self.targets, data["targets"], strict=True):
            as_dict["met"] = target.met
        return data


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.2f}x"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}".rstrip()


def format_table(results: list[ScenarioResult]) -> str:
    """The human-readable summary printed at the end of a run."""
    lines: list[str] = []
    for result in results:
        header = f"{result.title} [{result.status}]"
        if result.reason:
            header += f": {result.reason}"
        lines.append(header)
        for m in result.measurements:
            latency = ""
            if m.p50_ms is not None or m.p99_ms is not None:
                latency = f"p50 {_number(m.p50_ms, 'ms')}  p99 {_number(m.p99_ms, 'ms')}"
            lines.append(f"    {m.subject:<44} {_number(m.value, m.unit):>20}   {latency}")
        for t in result.targets:
            verdict = {True: "MET", False: "NOT MET", None: "n/a"}[t.met]
            sign = ">=" if t.at_least else "<"
            lines.append(
                f"  {verdict:>8}  {t.description}: {_number(t.value, t.unit)}"
                f" (target {sign} {_number(t.threshold, t.unit)})"
            )
        lines.extend(f"    note: {note}" for note in result.notes)
        lines.append("")
    return "\n".join(lines)


def write_json(path: Path, run: dict[str, Any], results: list[ScenarioResult]) -> None:
    """Write the run's metadata and every scenario's result as one JSON document."""
    document = {**run, "scenarios": [result.to_json() for result in results]}
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
