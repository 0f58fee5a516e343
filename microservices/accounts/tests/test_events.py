"""Payment events: a signed ``payment.succeeded`` credits the payer exactly once.

Refused deliveries are in test_event_refusals.py.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support import User, balance, deliver, payment_event


def history(client: TestClient, user: User) -> list[dict[str, Any]]:
    response = client.get(f"/accounts/{user.account_id}/transactions", headers=user.headers)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_succeeded_payment_credits_the_payer_as_a_top_up(client: TestClient, alice: User) -> None:
    response = deliver(client, payment_event(alice.user_id, "100.00"))
    assert response.status_code == 200
    assert response.json() == {"status": "applied"}
    assert balance(client, alice) == "100.00"
    [top_up] = history(client, alice)
    assert (top_up["kind"], top_up["amount"], top_up["sender_id"]) == ("top_up", "100.00", None)


def test_a_redelivered_event_is_a_duplicate_and_credits_nothing(
    client: TestClient, alice: User
) -> None:
    event = payment_event(alice.user_id, "25.50")
    assert deliver(client, event).json() == {"status": "applied"}
    again = deliver(client, event)
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert balance(client, alice) == "25.50"
    assert len(history(client, alice)) == 1


def test_a_payment_for_an_unknown_user_is_404(client: TestClient) -> None:
    response = deliver(client, payment_event("00000000-0000-0000-0000-000000000000", "5.00"))
    assert response.status_code == 404
