"""Sign-in is rate-limited per client at the gateway, with a JSON 429.

A stack of its own with a tiny burst, so the session stack's sign-ups are not throttled.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import Stack

BURST = 3
ATTEMPTS = 12


@pytest.fixture(scope="module")
def strict_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    data_dir: Path = tmp_path_factory.mktemp("rate-limited")
    with (
        Stack(
            data_dir=data_dir,
            services=("accounts",),
            gateway={"GATEWAY_AUTH_RATE": "1r/s", "GATEWAY_AUTH_BURST": str(BURST)},
        ) as stack,
        httpx.Client(base_url=stack.gateway_url, timeout=10.0) as client,
    ):
        yield client


def test_a_burst_of_sign_ins_gets_a_json_429_from_the_gateway(
    strict_gateway: httpx.Client,
) -> None:
    started = time.monotonic()
    credentials = {"phone_number": "+15550001111", "password": "wrong password"}
    answers = [
        strict_gateway.post("/accounts/auth/token", json=credentials) for _ in range(ATTEMPTS)
    ]
    assert time.monotonic() - started < 5, "the burst must arrive within the limit's window"
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) == {401, 429}
    # At most the burst plus what the rate refills during the loop reaches the service.
    assert statuses.count(401) <= BURST + 1 + int(time.monotonic() - started)
    limited = next(answer for answer in answers if answer.status_code == 429)
    assert limited.headers["content-type"].startswith("application/json")
    assert "detail" in limited.json()


def test_reading_is_not_rate_limited(strict_gateway: httpx.Client) -> None:
    statuses = {strict_gateway.get("/accounts/healthz").status_code for _ in range(ATTEMPTS)}
    assert statuses == {200}
