"""How long and how hard each scenario pushes: the full profile (``make bench``) and smoke.

The smoke profile runs the very same code with tiny numbers so that ``make test`` notices
when the harness rots; its figures mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """Every knob of a run. Durations are seconds; every load loop is bounded by them."""

    name: str
    # HTTP load with wrk: warm-up run, then the measured run.
    warmup_seconds: float
    http_seconds: float
    http_connections: int
    # The write path's target is stated at 50 connections.
    write_connections: int
    wrk_threads: int
    # Chat fan-out: one sender, N receivers, a rising rate of messages per second.
    fanout_receivers: int
    fanout_rates: tuple[int, ...]
    fanout_step_seconds: float
    # Chat scale: idle connections held open, then active ones exchanging messages.
    scale_idle: int
    scale_active: int
    scale_messages_per_active: int
    scale_seconds: float
    # Uploads through the gateway.
    upload_bytes: int
    # Thumbnails: timed runs per implementation after one warm-up.
    thumbnail_runs: int
    # Start-up: restarts measured per service; None means every service of the stack.
    startup_runs: int
    startup_services: tuple[str, ...] | None = None

    @property
    def is_smoke(self) -> bool:
        """True for the profile whose figures mean nothing (it only exercises the code)."""
        return self.name == "smoke"


FULL = Profile(
    name="full",
    warmup_seconds=2.0,
    http_seconds=10.0,
    http_connections=50,
    write_connections=50,
    wrk_threads=1,
    fanout_receivers=100,
    # Low first steps so that every peer keeps up with at least one (else no ratio).
    fanout_rates=(5, 10, 20, 50, 100, 200, 400, 800),
    fanout_step_seconds=4.0,
    scale_idle=1000,
    scale_active=100,
    scale_messages_per_active=5,
    scale_seconds=5.0,
    upload_bytes=1024**3,
    thumbnail_runs=15,
    startup_runs=3,
)

SMOKE = Profile(
    name="smoke",
    warmup_seconds=0.2,
    http_seconds=0.5,
    http_connections=4,
    write_connections=4,
    wrk_threads=1,
    fanout_receivers=5,
    fanout_rates=(20,),
    fanout_step_seconds=0.5,
    scale_idle=20,
    scale_active=5,
    scale_messages_per_active=2,
    scale_seconds=0.5,
    upload_bytes=4 * 1024**2,
    thumbnail_runs=1,
    startup_runs=1,
    startup_services=("resume",),
)

PROFILES = {profile.name: profile for profile in (FULL, SMOKE)}
