"""Fifty concurrent requests with one Idempotency-Key against a real server: one payment.

The service runs as uvicorn with two worker processes (so the requests race across processes
and database connections, not just coroutines), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from servicekit.testing import TokenFactory

SERVICE_DIR = Path(__file__).resolve().parent.parent
REQUESTS = 50
UVICORN_ARGS = ["--host", "127.0.0.1", "--workers", "2", "--no-access-log"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def jwks_url(tokens: TokenFactory) -> Iterator[str]:
    """The test token factory's public keys, served on loopback like accounts serves them."""
    document = json.dumps(tokens.jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server_url(
    database_url: str, data_dir: Path, jwks_url: str, tokens: TokenFactory, tmp_path: Path
) -> Iterator[str]:
    """The payments service as uvicorn with two workers on a free loopback port."""
    port = _free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "PAYMENTS_DATABASE_URL": database_url,
        "JWKS_URL": jwks_url,
        "JWT_ISSUER": tokens.issuer,
        "JWT_AUDIENCE": tokens.audience,
        "PAYMENT_EVENTS_SECRET": "load-test-secret",
        # Nothing listens there: deliveries just wait for retries, which is not under test.
        "PAYMENTS_ACCOUNTS_EVENTS_URL": f"http://127.0.0.1:{_free_port()}/internal/events",
    }
    log_path = tmp_path / "payments.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", *UVICORN_ARGS, "--port", str(port)],
            cwd=SERVICE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"payments did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


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
