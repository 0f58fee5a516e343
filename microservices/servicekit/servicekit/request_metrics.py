"""The two request metrics every service exports: ``http_requests_total`` (by method, route
and status) and ``http_request_duration_seconds`` (a histogram by method and route).

``RequestMetrics`` keeps them as plain numbers and hands them to Prometheus when scraped, as
a custom collector (prometheus-client's own extension point for values kept elsewhere):
``Counter.inc`` and ``Histogram.observe`` make six Python calls and three lock round trips
per request, 4% of a resume GET's instructions (README, read path), where one call
and one lock do. Its exposition is the one those two metric objects would give, without
their ``_created`` samples. In prometheus-client's multiprocess mode (uvicorn ``--workers``
with ``PROMETHEUS_MULTIPROC_DIR``), which only aggregates values its own metric objects keep
in files, ``LibraryRequestMetrics`` records through those objects instead.
"""

from __future__ import annotations

import bisect
import itertools
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

REQUESTS_NAME = "http_requests"
REQUESTS_HELP = "HTTP requests handled."
LATENCY_NAME = "http_request_duration_seconds"
LATENCY_HELP = "Time from request start to the end of the response."
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestRecorder(Protocol):
    """Counts one answered request and its duration."""

    def record(self, method: str, route: str, status: int, seconds: float) -> None: ...


class RequestMetrics(Collector):
    """The request metrics as plain numbers, exposed by ``collect`` when scraped."""

    def __init__(
        self,
        buckets: Sequence[float] = LATENCY_BUCKETS,
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self._bounds = (*buckets, float("inf"))
        # The ``le`` label of each bucket, written as the library writes it ("+Inf", ...).
        self._bucket_labels: tuple[str, ...] = tuple(
            floatToGoString(bound)  # type: ignore[no-untyped-call]
            for bound in self._bounds
        )
        # Per (method, route, status): the sum of durations, then a count per bucket (not
        # cumulative: a duration is counted once, in the first bucket that holds it).
        self._series: dict[tuple[str, str, int], list[float]] = {}
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request that took ``seconds``."""
        # Prometheus buckets are "less than or equal": the first bound >= seconds.
        bucket = bisect.bisect_left(self._bounds, seconds) + 1
        key = (method, route, status)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = [0.0] * (len(self._bounds) + 1)
            series[0] += seconds
            series[bucket] += 1

    def collect(self) -> Iterator[Metric]:
        """The two metric families, from a copy taken under the lock."""
        with self._lock:
            snapshot = [(key, series.copy()) for key, series in self._series.items()]
        requests = CounterMetricFamily(
            REQUESTS_NAME, REQUESTS_HELP, labels=("method", "route", "status")
        )
        by_route: dict[tuple[str, str], list[float]] = {}
        for (method, route, status), series in snapshot:
            requests.add_metric([method, route, str(status)], sum(series[1:]))
            total = by_route.setdefault((method, route), [0.0] * len(series))
            for index, value in enumerate(series):
                total[index] += value
        latency = HistogramMetricFamily(LATENCY_NAME, LATENCY_HELP, labels=("method", "route"))
        for (method, route), series in by_route.items():
            cumulative = itertools.accumulate(series[1:])
            buckets = list(zip(self._bucket_labels, cumulative, strict=True))
            latency.add_metric([method, route], buckets, sum_value=series[0])
        yield requests
        yield latency


class LibraryRequestMetrics:
    """The same metrics recorded through prometheus-client's Counter and Histogram."""

    def __init__(
        self,
        buckets: Sequence[float] = LATENCY_BUCKETS,
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self._requests = Counter(
            REQUESTS_NAME, REQUESTS_HELP, ["method", "route", "status"], registry=registry
        )
        self._latency = Histogram(
            LATENCY_NAME, LATENCY_HELP, ["method", "route"], buckets=buckets, registry=registry
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request that took ``seconds``."""
        # Each labelled child is looked up once: ``labels()`` validates and locks per call.
        children = self._children.get((method, route, status))
        if children is None:
            children = self._children[(method, route, status)] = (
                self._requests.labels(method, route, str(status)),
                self._latency.labels(method, route),
            )
        requests, latency = children
        requests.inc()
        latency.observe(seconds)


def request_recorder(registry: CollectorRegistry = REGISTRY) -> RequestRecorder:
    """The recorder for this process: plain numbers unless in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return LibraryRequestMetrics(registry=registry)
    return RequestMetrics(registry=registry)
