"""Payments through the real gateway: top-ups credit the payer's account exactly once.

The first tests use the session's whole platform. The failure scenarios (accounts down while
a payment succeeds, payments killed mid-flight, duplicated and forged deliveries) run on a
stack of their own with short intervals, so that they can stop and kill services.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from devstack import Stack
from servicekit.signing import SIGNATURE_HEADER, sign_payload
from tests.platform_users import SignedInUser, sign_up

T = TypeVar("T")

EVENTS_SECRET = "system-test-events-secret-" + uuid.uuid4().hex
FINAL = ("succeeded", "failed")


def wait_for(condition: Callable[[], T | None], *, timeout: float = 30.0, what: str) -> T:
    """Poll until ``condition`` returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def pay(
    gateway: httpx.Client,
    user: SignedInUser,
    amount: str,
    payment_method: str = "pm_card_visa",
) -> dict[str, Any]:
    """Create a payment through the gateway; its 202 body."""
    response = gateway.post(
        "/payments/payments",
        content=f'{{"amount": {amount}, "currency": "USD", "payment_method": '
        f'"{payment_method}", "description": "top-up"}}',
        headers={
            **user.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def payment(gateway: httpx.Client, user: SignedInUser, payment_id: str) -> dict[str, Any]:
    response = gateway.get(f"/payments/payments/{payment_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def final_payment(gateway: httpx.Client, user: SignedInUser, payment_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        current = payment(gateway, user, payment_id)
        return current if current["status"] in FINAL else None

    return wait_for(finished, what=f"payment {payment_id} to reach a final state")


def balance(gateway: httpx.Client, user: SignedInUser) -> str:
    response = gateway.get(f"/accounts/accounts/user/{user.user_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    value: str = response.json()["balance"]
    return value


def wait_for_balance(gateway: httpx.Client, user: SignedInUser, expected: str) -> None:
    wait_for(lambda: balance(gateway, user) == expected, what=f"balance {expected}")


# -- on the whole platform --------------------------------------------------------------------


def test_seed_payment_example_needs_a_token(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/payments/payments",
        json={"amount": 100.00, "currency": "USD", "description": "Test payment"},
        headers={"Idempotency-Key": "unique-key-123"},
    )
    assert response.status_code == 401


def test_top_up_with_a_visa_card_credits_the_account(gateway: httpx.Client) -> None:
    user = sign_up(gateway)
    created = pay(gateway, user, "100.00")
    assert created["status"] == "accepted"
    assert created["amount"] == "100.00"
    assert final_payment(gateway, user, created["payment_id"])["status"] == "succeeded"
    wait_for_balance(gateway, user, "100.00")


def test_declined_card_fails_and_leaves_the_balance_alone(gateway: httpx.Client) -> None:
    user = sign_up(gateway)
    declined = pay(gateway, user, "70.00", "pm_card_chargeDeclined")
    failed = final_payment(gateway, user, declined["payment_id"])
    assert (failed["status"], failed["failure_code"]) == ("failed", "card_declined")
    # A later top-up is credited alone: the declined payment never was.
    topped_up = pay(gateway, user, "5.00")
    assert final_payment(gateway, user, topped_up["payment_id"])["status"] == "succeeded"
    wait_for_balance(gateway, user, "5.00")


def test_someone_elses_payment_is_not_found(gateway: httpx.Client) -> None:
    owner, stranger = sign_up(gateway), sign_up(gateway)
    created = pay(gateway, owner, "1.00")
    response = gateway.get(f"/payments/payments/{created['payment_id']}", headers=stranger.headers)
    assert response.status_code == 404


# -- failure scenarios on a stack of their own --------------------------------------------------


@pytest.fixture(scope="module")
def crash_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Accounts and payments with a slow sandbox processor and quick retries."""
    env = {
        "PAYMENT_EVENTS_SECRET": EVENTS_SECRET,
        "PAYMENTS_WORKER_POLL_INTERVAL_SECONDS": "0.1",
        "PAYMENTS_RELAY_POLL_INTERVAL_SECONDS": "0.1",
        "PAYMENTS_PROCESSOR_DELAY_SECONDS": "1.0",
        "PAYMENTS_PROCESSING_LEASE_SECONDS": "3",
        "PAYMENTS_DELIVERY_TIMEOUT_SECONDS": "2",
        "PAYMENTS_RETRY_BASE_SECONDS": "0.2",
        "PAYMENTS_RETRY_MAX_SECONDS": "1",
        "PAYMENTS_BREAKER_FAILURE_THRESHOLD": "3",
        "PAYMENTS_BREAKER_COOLDOWN_SECONDS": "1",
    }
    data_dir = tmp_path_factory.mktemp("payments-crash")
    with Stack(
        data_dir=data_dir,
        services=("accounts", "payments"),
        env=env,
        gateway={"GATEWAY_AUTH_RATE": "50r/s", "GATEWAY_AUTH_BURST": "100"},
    ) as running:
        yield running


@pytest.fixture
def crash_gateway(crash_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=crash_stack.gateway_url, timeout=10.0) as client:
        yield client


def payments_database(stack: Stack) -> sqlite3.Connection:
    """Read-only access to the payments service's own SQLite file (what it really wrote)."""
    path = Path(stack.data_dir) / "payments" / "payments.db"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def outbox_events(stack: Stack, payment_id: str) -> list[tuple[str, str]]:
    """(type, payload) of every event a payment produced."""
    with payments_database(stack) as conn:
        rows = conn.execute(
            "SELECT type, payload FROM outbox_events WHERE payment_id = ? ORDER BY created_at",
            (payment_id,),
        ).fetchall()
    return [(str(kind), str(payload)) for kind, payload in rows]


def outbox_backlog(stack: Stack) -> float:
    """The payments service's outbox backlog gauge, read from its /metrics."""
    text = httpx.get(f"{stack.service_url('payments')}/metrics", timeout=5).text
    match = re.search(r"^payments_outbox_backlog (\S+)$", text, re.MULTILINE)
    assert match, "payments_outbox_backlog is missing from /metrics"
    return float(match.group(1))


def deliver(stack: Stack, body: bytes, signature: str | None) -> httpx.Response:
    """POST an event straight to accounts, as the payments relay does."""
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return httpx.post(
        f"{stack.service_url('accounts')}/internal/events", content=body, headers=headers
    )


def test_credit_arrives_after_accounts_comes_back(
    crash_stack: Stack, crash_gateway: httpx.Client
) -> None:
    user = sign_up(crash_gateway)
    # Payments verifies tokens with the accounts keys it has cached by now.
    assert crash_gateway.get("/payments/payments", headers=user.headers).status_code == 200
    crash_stack.stop_service("accounts")
    try:
        created = pay(crash_gateway, user, "25.00")
        assert final_payment(crash_gateway, user, created["payment_id"])["status"] == "succeeded"
        assert outbox_backlog(crash_stack) >= 1  # the credit waits for accounts
    finally:
        crash_stack.start_service("accounts")
    wait_for_balance(crash_gateway, user, "25.00")


def test_same_event_delivered_twice_is_credited_once(
    crash_stack: Stack, crash_gateway: httpx.Client
) -> None:
    user = sign_up(crash_gateway)
    created = pay(crash_gateway, user, "10.00")
    final_payment(crash_gateway, user, created["payment_id"])
    wait_for_balance(crash_gateway, user, "10.00")
    [succeeded] = [
        payload
        for kind, payload in outbox_events(crash_stack, created["payment_id"])
        if kind == "payment.succeeded"
    ]
    body = succeeded.encode()
    again = deliver(crash_stack, body, sign_payload(EVENTS_SECRET, body))
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert balance(crash_gateway, user) == "10.00"


def test_forged_or_stale_event_is_refused_and_credits_nothing(
    crash_stack: Stack, crash_gateway: httpx.Client
) -> None:
    user = sign_up(crash_gateway)
    event = {
        "id": str(uuid.uuid4()),
        "type": "payment.succeeded",
        "created_at": "2026-12-01T00:00:00+00:00",
        "data": {
            "payment_id": str(uuid.uuid4()),
            "user_id": user.user_id,
            "amount": "1000.00",
            "currency": "USD",
            "status": "succeeded",
        },
    }
    body = json.dumps(event).encode()
    forged = deliver(crash_stack, body, sign_payload("not-the-secret", body))
    unsigned = deliver(crash_stack, body, None)
    stale = deliver(
        crash_stack, body, sign_payload(EVENTS_SECRET, body, timestamp=int(time.time()) - 3600)
    )
    tampered = deliver(
        crash_stack, body.replace(b"1000.00", b"9999.00"), sign_payload(EVENTS_SECRET, body)
    )
    assert [r.status_code for r in (forged, unsigned, stale, tampered)] == [401, 401, 401, 401]
    # The gateway does not even let the outside world reach the endpoint.
    assert crash_gateway.post("/accounts/internal/events", content=body).status_code == 404
    assert balance(crash_gateway, user) == "0.00"


def test_payments_killed_mid_flight_finishes_every_payment_and_credits_once(
    crash_stack: Stack, crash_gateway: httpx.Client
) -> None:
    user = sign_up(crash_gateway)
    methods = ["pm_card_visa"] * 5 + ["pm_card_chargeDeclined"] * 2
    created = [pay(crash_gateway, user, f"{n + 1}.00", method) for n, method in enumerate(methods)]
    ids = [body["payment_id"] for body in created]

    def statuses() -> list[str]:
        with payments_database(crash_stack) as conn:
            rows = dict(conn.execute("SELECT id, status FROM payments").fetchall())
        return [str(rows[payment_id]) for payment_id in ids]

    wait_for(lambda: "processing" in statuses(), what="a payment in processing")
    crash_stack.stop_service("payments", kill=True)
    in_flight = [status for status in statuses() if status not in FINAL]
    assert in_flight, "the kill should interrupt work in progress"
    crash_stack.start_service("payments")

    finals = [final_payment(crash_gateway, user, payment_id) for payment_id in ids]
    succeeded = [body for body in finals if body["status"] == "succeeded"]
    assert [body["status"] for body in finals] == ["succeeded"] * 5 + ["failed"] * 2
    # Each payment reached its final state once: one final event each.
    for payment_id in ids:
        kinds = [kind for kind, _ in outbox_events(crash_stack, payment_id)]
        assert sorted(kinds) in (
            ["payment.accepted", "payment.succeeded"],
            ["payment.accepted", "payment.failed"],
        ), kinds
    total = sum(int(body["amount"].split(".")[0]) for body in succeeded)
    wait_for_balance(crash_gateway, user, f"{total}.00")
