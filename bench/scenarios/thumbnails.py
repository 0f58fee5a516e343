"""Thumbnails: ours against the seed's naive Pillow path and pyvips, on the same JPEG."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path

from bench.context import Context
from bench.platform import SERVICES_PYTHON
from bench.results import Measurement, ScenarioResult, ScenarioUnavailable, ratio
from devstack.stack import ROOT

BASEMENT_DIR = ROOT / "microservices" / "basement"
WIDTH, HEIGHT = 4000, 3000


def test_image(path: Path) -> Path:
    """A 4000x3000 photo-like JPEG (gradients and noise, so decoding does real work)."""
    if path.exists():
        return path
    from PIL import Image

    size = (WIDTH // 4, HEIGHT // 4)
    red = Image.linear_gradient("L").resize(size)
    green = Image.effect_noise(size, 64)
    blue = Image.radial_gradient("L").resize(size)
    image = Image.merge("RGB", (red, green, blue)).resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    noise = Image.effect_noise((WIDTH, HEIGHT), 24).convert("RGB")
    Image.blend(image, noise, 0.25).save(path, format="JPEG", quality=90)
    return path


def time_implementation(
    python: str, spec: str, image: Path, runs: int, cwd: Path | None = None
) -> list[float]:
    """Milliseconds per thumbnail, measured in a fresh process by ``bench.thumbs``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(
        [python, "-m", "bench.thumbs", spec, str(image), str(runs)],
        cwd=cwd or ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        raise ScenarioUnavailable(f"{spec}: {completed.stderr.strip().splitlines()[-1:]}")
    timings: list[float] = json.loads(completed.stdout.strip().splitlines()[-1])["ms"]
    return timings


def measurement(subject: str, timings: list[float]) -> Measurement:
    """Median milliseconds per image (lower is better), with the spread."""
    return Measurement(
        subject=subject,
        value=statistics.median(timings),
        unit="ms",
        higher_is_better=False,
        details={"runs_ms": [round(t, 2) for t in timings]},
    )


def run(ctx: Context, result: ScenarioResult) -> None:
    """Time every implementation on the same image, each in its own process."""
    image = test_image(ctx.work_dir / "photo-4000x3000.jpg")
    runs = ctx.profile.thumbnail_runs
    peers = {
        "pillow-naive": "Pillow naive (seed's algorithm)",
        "pillow-draft": "Pillow with draft decoding",
        "pyvips": "pyvips thumbnail_buffer (JPEG out, as ours)",
    }
    figures = {
        key: result.measure(
            measurement(subject, time_implementation(ctx.bench_python, key, image, runs))
        )
        for key, subject in peers.items()
    }
    try:
        ours = result.measure(
            measurement(
                "ours: basement make_thumbnail",
                time_implementation(str(SERVICES_PYTHON), "ours", image, runs, cwd=BASEMENT_DIR),
            )
        )
    except ScenarioUnavailable as exc:
        result.notes.append(f"ours not available yet: {exc}")
        ours_ms = None
    else:
        ours_ms = ours.value
    result.target(
        "speed-up over naive Pillow", ratio(figures["pillow-naive"].value, ours_ms), 3.0, unit="x"
    )
    result.target(
        "speed-up over pyvips (> 1 = faster)",
        ratio(figures["pyvips"].value, ours_ms),
        1.0,
        unit="x",
    )
    result.notes.append(
        "every implementation reads the same file and fits 300x300; the Pillow peers encode PNG "
        "(the seed's algorithm), pyvips and ours JPEG q85; one warm-up call each"
    )
