"""PNG charts of a run: throughput (or time) per subject, and latency, per scenario."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

from bench.results import Measurement, ScenarioResult

OURS, PEER, CEILING = "#1f6feb", "#f0883e", "#8b949e"


def _colour(measurement: Measurement) -> str:
    subject = measurement.subject.lower()
    if subject.startswith("ours"):
        return OURS
    if "ceiling" in subject or subject.startswith("bare"):
        return CEILING
    return PEER


def throughput_chart(results: list[ScenarioResult], path: Path, title: str) -> Path | None:
    """One horizontal bar panel per scenario and unit (never two units on one axis)."""
    panels: list[tuple[str, list[Measurement]]] = []
    for result in results:
        for unit in dict.fromkeys(m.unit for m in result.measurements):
            panels.append((result.title, [m for m in result.measurements if m.unit == unit]))
    if not panels:
        return None
    heights = [0.7 + 0.38 * len(measurements) for _, measurements in panels]
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(10, sum(heights) + 1.2), squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )  # fmt: skip
    for axis, (scenario, measurements) in zip(axes[:, 0], panels, strict=True):
        values = [m.value for m in measurements]
        bars = axis.barh(
            [m.subject for m in measurements], values, color=[_colour(m) for m in measurements]
        )
        axis.invert_yaxis()
        better = "higher" if measurements[0].higher_is_better else "lower"
        axis.set_title(
            f"{scenario}  ({measurements[0].unit}, {better} is better)", fontsize=9, loc="left"
        )
        axis.tick_params(labelsize=8)
        axis.bar_label(
            bars, labels=[f"{v:,.1f}" if v < 100 else f"{v:,.0f}" for v in values], fontsize=7
        )
        axis.margins(x=0.15)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout(rect=(0, 0, 1, 0.99))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def latency_chart(results: list[ScenarioResult], path: Path, title: str) -> Path | None:
    """p50 and p99 latency of every measurement that has them, log scale."""
    rows = [
        (f"{m.subject}  [{r.key}]", max(m.p50_ms or 0.0, 0.01), max(m.p99_ms, 0.01))
        for r in results
        for m in r.measurements
        if m.p99_ms is not None
    ]
    if not rows:
        return None
    figure, axis = plt.subplots(figsize=(10, 1.2 + 0.42 * len(rows)))
    positions = range(len(rows))
    axis.barh(
        [p + 0.2 for p in positions], [r[2] for r in rows], height=0.4, label="p99", color="#d1242f"
    )
    axis.barh(
        [p - 0.2 for p in positions], [r[1] for r in rows], height=0.4, label="p50", color=OURS
    )
    axis.set_yticks(list(positions), [r[0] for r in rows], fontsize=8)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlabel("milliseconds (log scale)")
    axis.legend(fontsize=8)
    axis.set_title(f"Latency (p50, p99) · {title}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
