"""Time one thumbnail implementation in this process: ``python -m bench.thumbs IMPL IMAGE RUNS``.

Each implementation runs in a fresh process (ours on the services' interpreter, the peers on
the bench virtualenv), reads the same JPEG file and turns it into a thumbnail that fits
300x300, once to warm up and then ``RUNS`` times, and prints the timings as one JSON line.
Only the standard library is imported up front: each implementation imports what it needs.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

SIZE = 300
Thumbnailer = Callable[[Path], bytes]
# Above any real photo; the bomb check is basement's business, not what is measured here.
MAX_PIXELS = 200_000_000


def pillow_naive() -> Thumbnailer:
    """The seed's algorithm: open, convert, ``thumbnail``, save PNG; full-size decoding."""
    from PIL import Image

    def make(source: Path) -> bytes:
        image = Image.open(source).convert("RGB")
        image.thumbnail((SIZE, SIZE))
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()

    return make


def pillow_draft() -> Thumbnailer:
    """The same with JPEG draft decoding (the decoder scales by 1/2..1/8 while decoding)."""
    from PIL import Image

    def make(source: Path) -> bytes:
        opened = Image.open(source)
        opened.draft("RGB", (SIZE, SIZE))
        image = opened.convert("RGB")
        image.thumbnail((SIZE, SIZE))
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()

    return make


def pyvips_thumbnail() -> Thumbnailer:
    """libvips' ``thumbnail_buffer`` (shrink-on-load), saved like ours: JPEG q85, no metadata."""
    import pyvips

    def make(source: Path) -> bytes:
        image = pyvips.Image.thumbnail_buffer(source.read_bytes(), SIZE, height=SIZE)
        out: bytes = image.write_to_buffer(".jpg[Q=85,optimize_coding,keep=none]")
        return out

    return make


def ours_basement() -> Thumbnailer:
    """basement's ``make_thumbnail`` (run from microservices/basement), file to file as served."""
    from app.thumbnails import make_thumbnail  # type: ignore[import-not-found]

    def make(source: Path) -> bytes:
        # Beside the source, in the run's scratch dir, which the run removes.
        target = source.with_name("ours-thumbnail")
        make_thumbnail(source, target, box=SIZE, max_pixels=MAX_PIXELS)
        return target.read_bytes()

    return make


IMPLEMENTATIONS: dict[str, Callable[[], Thumbnailer]] = {
    "pillow-naive": pillow_naive,
    "pillow-draft": pillow_draft,
    "pyvips": pyvips_thumbnail,
    "ours": ours_basement,
}


def time_runs(make: Thumbnailer, source: Path, runs: int) -> list[float]:
    """Milliseconds per call, after one warm-up call."""
    if not make(source):
        raise RuntimeError("the thumbnailer returned nothing")
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        make(source)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main(argv: list[str]) -> int:
    """Entry point of the subprocess."""
    spec, image, runs = argv[0], Path(argv[1]), int(argv[2])
    timings = time_runs(IMPLEMENTATIONS[spec](), image, runs)
    print(json.dumps({"implementation": spec, "ms": timings}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
