"""The gateway and the shared plumbing, observed from outside like a user with curl would."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from devstack import SERVICES, Stack


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_answers_health_and_readiness_through_the_gateway(
    gateway: httpx.Client, service: str
) -> None:
    health = gateway.get(f"/{service}/healthz")
    ready = gateway.get(f"/{service}/readyz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_gateway_answers_its_own_health(gateway: httpx.Client) -> None:
    response = gateway.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def _log_lines_with(stack: Stack, service: str, request_id: str) -> list[dict[str, object]]:
    # The access line is written right after the response; give it a moment to land.
    deadline = time.monotonic() + 2
    while True:
        lines = [
            json.loads(line)
            for line in stack.log_path(service).read_text().splitlines()
            if request_id in line
        ]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_request_without_id_gets_one_and_the_service_logs_it(
    gateway: httpx.Client, stack: Stack
) -> None:
    response = gateway.get("/resume/healthz")
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) >= 16
    [line] = _log_lines_with(stack, "resume", request_id)
    assert line["service"] == "resume"
    assert line["method"] == "GET"
    assert line["path"] == "/resume/healthz"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float | int)


def test_the_gateway_logs_each_request_with_its_id_and_times_in_seconds(
    gateway: httpx.Client, stack: Stack
) -> None:
    gateway.get("/accounts/healthz", headers={"X-Request-ID": "gateway-line-7"})
    access_log = stack.log_dir / "gateway-access.log"
    deadline = time.monotonic() + 2
    while not (
        lines := [line for line in access_log.read_text().splitlines() if "gateway-line-7" in line]
    ):
        assert time.monotonic() < deadline, "no gateway access line"
        time.sleep(0.05)
    [line] = [json.loads(text) for text in lines]
    assert (line["method"], line["uri"], line["status"]) == ("GET", "/accounts/healthz", 200)
    # Nginx's own clocks, in seconds with millisecond resolution (the services log
    # milliseconds as duration_ms); each clock is read once per event cycle, so the two are
    # not ordered to the millisecond.
    assert "duration_ms" not in line
    assert 0 <= line["duration_s"] < 5
    assert 0 <= float(line["upstream_s"]) < 5


def test_request_with_an_id_keeps_it(gateway: httpx.Client, stack: Stack) -> None:
    response = gateway.get("/accounts/healthz", headers={"X-Request-ID": "my-trace-42"})
    assert response.headers["X-Request-ID"] == "my-trace-42"
    assert _log_lines_with(stack, "accounts", "my-trace-42")


def test_a_malformed_request_id_is_replaced(gateway: httpx.Client) -> None:
    response = gateway.get("/accounts/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["X-Request-ID"] != "bad id\twith spaces"


def test_docs_load_through_the_gateway_and_point_under_the_prefix(gateway: httpx.Client) -> None:
    docs = gateway.get("/accounts/docs")
    assert docs.status_code == 200
    assert "/accounts/openapi.json" in docs.text
    spec = gateway.get("/accounts/openapi.json").json()
    assert spec["servers"] == [{"url": "/accounts"}]
    # A path from the spec, prefixed with the server URL, reaches the service.
    assert "/healthz" in spec["paths"]
    assert gateway.get(spec["servers"][0]["url"] + "/healthz").status_code == 200


@pytest.mark.parametrize(
    "path", ["/accounts/metrics", "/accounts/internal/anything", "/payments/internal/"]
)
def test_metrics_and_internal_endpoints_are_refused_from_outside(
    gateway: httpx.Client, path: str
) -> None:
    response = gateway.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_metrics_are_served_on_the_service_port(gateway: httpx.Client, stack: Stack) -> None:
    gateway.get("/accounts/healthz")
    response = httpx.get(f"{stack.service_url('accounts')}/metrics")
    assert response.status_code == 200
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in response.text
    assert "http_request_duration_seconds_bucket" in response.text


def test_unknown_prefix_is_a_json_404(gateway: httpx.Client) -> None:
    response = gateway.get("/nope/healthz")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["X-Request-ID"]


def test_unknown_path_inside_a_service_is_the_services_json_404(gateway: httpx.Client) -> None:
    response = gateway.get("/resume/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_a_stopped_service_is_a_fast_json_502_and_recovers(
    gateway: httpx.Client, stack: Stack
) -> None:
    stack.stop_service("resume")
    try:
        started = time.monotonic()
        response = gateway.get("/resume/healthz")
        assert time.monotonic() - started < 1.0
        assert response.status_code == 502
        assert "detail" in response.json()
        # The others keep answering.
        assert gateway.get("/accounts/healthz").status_code == 200
    finally:
        stack.start_service("resume")
    # Same Nginx, no reload: the route is back.
    assert gateway.get("/resume/healthz").status_code == 200
