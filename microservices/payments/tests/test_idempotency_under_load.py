"""Fifty concurrent requests with one Idempotency-Key against a real server: one payment.

The service runs as uvicorn with two worker processes (so the requests race across processes
and database connections, not just coroutines), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from servicekit.testing import TokenFactory, free_port, running_service

SERVICE_DIR = Path(__file__).resolve().parent.parent
REQUESTS = 50


@pytest.fixture
def server_url(
    database_url: str, data_dir: Path, jwks_url: str, tokens: TokenFactory, tmp_path: Path
) -> Iterator[str]:
    """The payments service as uvicorn with two workers on a free loopback port."""
    env = {
        "DATA_DIR": str(data_dir),
        "PAYMENTS_DATABASE_URL": database_url,
        "JWKS_URL": jwks_url,
        "JWT_ISSUER": tokens.issuer,
        "JWT_AUDIENCE": tokens.audience,
        "PAYMENT_EVENTS_SECRET": "load-test-secret",
        # Nothing listens there: deliveries just wait for retries, which is not under test.
        "PAYMENTS_ACCOUNTS_EVENTS_URL": f"http://127.0.0.1:{free_port()}/internal/events",
    }
    with running_service(
        SERVICE_DIR, env, workers=2, log_path=tmp_path / "payments.log", ready_timeout=30
    ) as service:
        yield service.url


def test_fifty_concurrent_requests_with_one_key_create_one_payment(
    server_url: str, tokens: TokenFactory
) -> None:
    headers = {**tokens.headers("racer"), "Idempotency-Key": "one-key-for-all"}
    body = {"amount": 42.00, "currency": "USD", "description": "race"}
    start = threading.Barrier(REQUESTS, timeout=30)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=server_url, timeout=30) as client:
            start.wait()  # every thread fires at once
            return client.post("/payments", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        responses = list(pool.map(send, range(REQUESTS), timeout=60))

    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {202, 409}, statuses
    accepted = [response for response in responses if response.status_code == 202]
    originals = [r for r in accepted if r.headers.get("Idempotent-Replayed") != "true"]
    assert len(originals) == 1
    assert {response.content for response in accepted} == {originals[0].content}

    # Whatever raced, the caller's retry now gets the one payment, and there is only one.
    retry = httpx.post(f"{server_url}/payments", json=body, headers=headers, timeout=10)
    assert retry.status_code == 202
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.content == originals[0].content
    listed = httpx.get(f"{server_url}/payments", headers=tokens.headers("racer"), timeout=10)
    assert [payment["payment_id"] for payment in listed.json()["data"]] == [
        originals[0].json()["payment_id"]
    ]
