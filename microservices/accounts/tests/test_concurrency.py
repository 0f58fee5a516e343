"""Hundreds of simultaneous transfers against a real server with two worker processes.

The server is ``uvicorn --workers 2`` in a subprocess, on a SQLite file and on PostgreSQL.
Whatever the interleaving: the sum of balances changes only by credits, no balance goes
negative, every request gets exactly one outcome and a retried request moves money once.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ADMIN_PASSWORD, ADMIN_PHONE, EVENTS_SECRET, User, fund, sign_up

SERVICE_DIR = Path(__file__).resolve().parent.parent
TRANSFERS = 300
USERS = 4
THREADS = 24
DEADLINE_SECONDS = 90


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(database_url: str, data_dir: Path, tmp_path: Path) -> Iterator[str]:
    """The accounts app served by two uvicorn workers; its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "ACCOUNTS_DATABASE_URL": database_url,
        "PAYMENT_EVENTS_SECRET": EVENTS_SECRET,
        "LEDGER_CURRENCY": "USD",
        "ACCOUNTS_ADMIN_PHONE": ADMIN_PHONE,
        "ACCOUNTS_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "ACCOUNTS_PASSWORD_HASH_TIME_COST": "1",
        "ACCOUNTS_PASSWORD_HASH_MEMORY_KIB": "1024",
        "ACCOUNTS_PASSWORD_HASH_PARALLELISM": "1",
        "ACCOUNTS_SIGNING_KEY_PEM": "",
    }
    log_path = tmp_path / "server.log"
    command = [
        sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "2", "--no-access-log",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=SERVICE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server not ready after 60s:\n{log_path.read_text()[-3000:]}")


def _balances(client: httpx.Client, users: list[User]) -> list[Decimal]:
    return [
        Decimal(client.get(f"/accounts/user/{u.user_id}", headers=u.headers).json()["balance"])
        for u in users
    ]


def _history_length(client: httpx.Client, user: User) -> int:
    count, cursor = 0, None
    for _ in range(50):
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = client.get(
            f"/accounts/{user.account_id}/transactions", params=params, headers=user.headers
        ).json()
        count += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return count
    raise AssertionError("history did not end")


def test_hundreds_of_simultaneous_transfers_conserve_money(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        users = [sign_up(client) for _ in range(USERS)]
        for user in users:
            fund(client, user, "100.00")
        rng = random.Random(1234)
        plan = []
        for _ in range(TRANSFERS):
            sender, receiver = rng.sample(users, 2)
            plan.append((sender, receiver, f"{rng.randint(1, 4000) / 100:.2f}"))
        started = time.monotonic()

        def send(step: tuple[User, User, str]) -> tuple[User, User, Decimal, int, str]:
            sender, receiver, amount = step
            if time.monotonic() - started > DEADLINE_SECONDS:
                raise TimeoutError("load test over its time budget")
            response = client.post(
                "/transactions",
                json={
                    "sender_id": sender.account_id,
                    "receiver_id": receiver.account_id,
                    "amount": amount,
                },
                headers=sender.headers,
            )
            status = response.json().get("status", "") if response.status_code == 200 else ""
            return sender, receiver, Decimal(amount), response.status_code, status

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            results = list(pool.map(send, plan))

        assert Counter(code for *_, code, _ in results) == {200: TRANSFERS}
        outcomes = Counter(status for *_, status in results)
        assert set(outcomes) <= {"SUCCESS", "FAILED"}
        assert outcomes["SUCCESS"] > 0
        balances = _balances(client, users)
        assert sum(balances) == Decimal("400.00")
        assert min(balances) >= 0
        # Each balance is exactly its credit plus what its successful transfers moved.
        expected = {user.account_id: Decimal("100.00") for user in users}
        for sender, receiver, amount, _, status in results:
            if status == "SUCCESS":
                expected[sender.account_id] -= amount
                expected[receiver.account_id] += amount
        assert balances == [expected[user.account_id] for user in users]
        # Every request was recorded once (plus each user's top-up).
        involved: Counter[str] = Counter()
        for sender, receiver, *_ in results:
            involved[sender.account_id] += 1
            involved[receiver.account_id] += 1
        for user in users:
            assert _history_length(client, user) == involved[user.account_id] + 1


def test_simultaneous_retries_with_one_idempotency_key_move_money_once(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        alice, bob = sign_up(client), sign_up(client)
        fund(client, alice, "100.00")
        body = {"sender_id": alice.account_id, "receiver_id": bob.account_id, "amount": "7.00"}
        headers = {**alice.headers, "Idempotency-Key": "double-click"}
        with ThreadPoolExecutor(max_workers=16) as pool:
            responses = list(
                pool.map(
                    lambda _: client.post("/transactions", json=body, headers=headers), range(32)
                )
            )
        assert {response.status_code for response in responses} == {200}
        assert len({response.json()["transaction_id"] for response in responses}) == 1
        assert _balances(client, [alice, bob]) == [Decimal("93.00"), Decimal("7.00")]
