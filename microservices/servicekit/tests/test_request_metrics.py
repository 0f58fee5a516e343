"""The request metrics: the same exposition as prometheus-client's own Counter and Histogram."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from servicekit.request_metrics import (
    LibraryRequestMetrics,
    RequestMetrics,
    RequestRecorder,
    request_recorder,
)

# Durations on, between and beyond the bucket bounds, over several statuses of one route.
REQUESTS = [
    ("GET", "/resumes/{resume_id}", 200, 0.0004),
    ("GET", "/resumes/{resume_id}", 200, 0.001),
    ("GET", "/resumes/{resume_id}", 304, 0.0011),
    ("GET", "/resumes/{resume_id}", 404, 0.3),
    ("POST", "/resumes", 201, 0.02),
    ("POST", "/resumes", 422, 12.5),
    ("OTHER", "unmatched", 405, 0.0),
]


def _exposition(recorder_class: type[RequestRecorder]) -> list[str]:
    registry = CollectorRegistry()
    recorder = recorder_class(registry=registry)  # type: ignore[call-arg]
    for method, route, status, seconds in REQUESTS:
        recorder.record(method, route, status, seconds)
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_request_metrics_expose_what_prometheus_clients_own_metrics_would() -> None:
    ours = _exposition(RequestMetrics)
    assert ours == _exposition(LibraryRequestMetrics)
    assert 'http_requests_total{method="GET",route="/resumes/{resume_id}",status="200"} 2.0' in ours
    assert (
        'http_request_duration_seconds_bucket{le="0.001",method="GET",route="/resumes/{resume_id}"}'
        " 2.0" in ours
    )
    assert 'http_request_duration_seconds_count{method="POST",route="/resumes"} 2.0' in ours


def test_nothing_recorded_exposes_no_series() -> None:
    registry = CollectorRegistry()
    RequestMetrics(registry=registry)
    assert "{" not in generate_latest(registry).decode()


@pytest.mark.parametrize(
    ("multiprocess_dir", "expected"),
    [("", RequestMetrics), ("/run/metrics", LibraryRequestMetrics)],
)
def test_multiprocess_mode_records_through_the_librarys_own_metrics(
    monkeypatch: pytest.MonkeyPatch, multiprocess_dir: str, expected: type
) -> None:
    # Its collector only aggregates what the library's metric objects write to files.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", multiprocess_dir)
    assert type(request_recorder(CollectorRegistry())) is expected
