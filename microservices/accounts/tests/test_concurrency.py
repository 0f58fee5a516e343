"""Hundreds of simultaneous transfers against a real server with two worker processes.

The server is ``uvicorn --workers 2`` in a subprocess, on a SQLite file and on PostgreSQL.
Whatever the interleaving: the sum of balances changes only by credits, no balance goes
negative, every request gets exactly one outcome and a retried request moves money once.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from servicekit.testing import running_service
from tests.support import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    EVENTS_SECRET,
    User,
    deliver,
    fund,
    payment_event,
    sign_up,
)

SERVICE_DIR = Path(__file__).resolve().parent.parent
TRANSFERS = 300
USERS = 4
THREADS = 24
DEADLINE_SECONDS = 90


@pytest.fixture
def server(database_url: str, data_dir: Path, tmp_path: Path) -> Iterator[str]:
    """The accounts app served by two uvicorn workers; its base URL."""
    env = {
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
    with running_service(SERVICE_DIR, env, workers=2, log_path=tmp_path / "server.log") as service:
        yield service.url


def _client(server: str) -> httpx.Client:
    """A client shared by the test's threads that keeps every connection they open.

    httpcore 1.0.9's pool can close a surplus keep-alive connection it has just handed to a
    waiting thread (encode/httpcore#1110): with more threads than kept connections, a request
    now and then lost its socket mid-flight (EBADF), which says nothing about the server.
    """
    limits = httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS)
    return httpx.Client(base_url=server, timeout=30, limits=limits)


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
    with _client(server) as client:
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
    with _client(server) as client:
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


def test_one_event_delivered_many_times_at_once_credits_once(server: str) -> None:
    # The relay redelivers an event whose claim expired, perhaps while the first delivery is
    # still running; on PostgreSQL two deliveries can both pass the applied-event check, and
    # the later insert of the event id conflicts and rolls its credit back.
    with _client(server) as client:
        alice = sign_up(client)
        event = payment_event(alice.user_id, "12.34")
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            responses = list(pool.map(lambda _: deliver(client, event), range(48)))
        assert sorted(response.json()["status"] for response in responses) == [
            "applied",
            *["duplicate"] * 47,
        ]
        assert _balances(client, [alice]) == [Decimal("12.34")]
        assert _history_length(client, alice) == 1
