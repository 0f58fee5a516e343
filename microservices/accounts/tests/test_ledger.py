"""Accounts, transfers and history through the API: owner-only, exact, never a lost cent."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import User, balance, fund


def transfer(client: TestClient, by: User, to: User, amount: Any, **extra: Any) -> dict[str, Any]:
    """POST /transactions from ``by``'s account to ``to``'s; the answer's JSON."""
    headers = dict(by.headers)
    if "key" in extra:
        headers["Idempotency-Key"] = extra.pop("key")
    body = {"sender_id": by.account_id, "receiver_id": to.account_id, "amount": amount, **extra}
    response = client.post("/transactions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# -- accounts --------------------------------------------------------------------------------


def test_the_owner_sees_their_account_and_balance(client: TestClient, alice: User) -> None:
    response = client.get(f"/accounts/user/{alice.user_id}", headers=alice.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["account_id"] == alice.account_id
    assert body["user_id"] == alice.user_id
    assert body["balance"] == "0.00"
    assert body["currency"] == "USD"
    assert body["created_at"]


def test_other_users_see_only_the_account_id(client: TestClient, alice: User, bob: User) -> None:
    response = client.get(f"/accounts/user/{alice.user_id}", headers=bob.headers)
    assert response.status_code == 200
    assert response.json() == {"account_id": alice.account_id}


def test_an_admin_sees_anyones_balance(client: TestClient, alice: User, admin: User) -> None:
    response = client.get(f"/accounts/user/{alice.user_id}", headers=admin.headers)
    assert response.json()["balance"] == "0.00"


# -- transfers -------------------------------------------------------------------------------


def test_a_transfer_moves_the_amount_between_both_balances(
    client: TestClient, alice: User, bob: User
) -> None:
    fund(client, alice, "100.00")
    result = transfer(client, alice, bob, "30.25", description="dinner")
    assert result["status"] == "SUCCESS"
    assert result["amount"] == "30.25"
    assert result["sender_id"] == alice.account_id
    assert result["receiver_id"] == bob.account_id
    assert result["kind"] == "transfer"
    assert result["description"] == "dinner"
    assert (balance(client, alice), balance(client, bob)) == ("69.75", "30.25")


def test_insufficient_balance_is_recorded_as_failed_and_moves_nothing(
    client: TestClient, alice: User, bob: User
) -> None:
    fund(client, alice, "10.00")
    result = transfer(client, alice, bob, "10.01")
    assert result["status"] == "FAILED"
    assert (balance(client, alice), balance(client, bob)) == ("10.00", "0.00")
    stored = client.get(f"/transactions/{result['transaction_id']}", headers=alice.headers)
    assert stored.json()["status"] == "FAILED"


def test_the_whole_balance_can_be_sent(client: TestClient, alice: User, bob: User) -> None:
    fund(client, alice, "10.00")
    assert transfer(client, alice, bob, "10.00")["status"] == "SUCCESS"
    assert balance(client, alice) == "0.00"


def test_json_number_amounts_are_exact(client: TestClient, alice: User, bob: User) -> None:
    fund(client, alice, "1.00")
    for _ in range(3):
        transfer(client, alice, bob, 0.1)
    assert (balance(client, alice), balance(client, bob)) == ("0.70", "0.30")


@pytest.mark.parametrize("missing", ["sender", "receiver"])
def test_unknown_accounts_are_404(client: TestClient, alice: User, bob: User, missing: str) -> None:
    ids = {"sender_id": alice.account_id, "receiver_id": bob.account_id}
    ids[f"{missing}_id"] = "00000000-0000-0000-0000-000000000000"
    response = client.post("/transactions", json={**ids, "amount": "1.00"}, headers=alice.headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "Account not found"}


def test_a_transfer_with_someone_elses_token_is_forbidden(
    client: TestClient, alice: User, bob: User
) -> None:
    fund(client, alice, "50.00")
    response = client.post(
        "/transactions",
        json={"sender_id": alice.account_id, "receiver_id": bob.account_id, "amount": "50.00"},
        headers=bob.headers,
    )
    assert response.status_code == 403
    assert balance(client, alice) == "50.00"


# -- idempotency -----------------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_replays_the_first_answer(
    client: TestClient, alice: User, bob: User
) -> None:
    fund(client, alice, "100.00")
    first = transfer(client, alice, bob, "40.00", key="retry-1")
    response = client.post(
        "/transactions",
        json={"sender_id": alice.account_id, "receiver_id": bob.account_id, "amount": "40.00"},
        headers={**alice.headers, "Idempotency-Key": "retry-1"},
    )
    assert response.json() == first
    assert response.headers["Idempotent-Replayed"] == "true"
    assert balance(client, alice) == "60.00"


def test_the_same_idempotency_key_with_another_body_is_422(
    client: TestClient, alice: User, bob: User
) -> None:
    fund(client, alice, "100.00")
    transfer(client, alice, bob, "40.00", key="retry-2")
    response = client.post(
        "/transactions",
        json={"sender_id": alice.account_id, "receiver_id": bob.account_id, "amount": "41.00"},
        headers={**alice.headers, "Idempotency-Key": "retry-2"},
    )
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert balance(client, alice) == "60.00"


def test_a_failed_transfer_is_replayed_too_even_after_funding(
    client: TestClient, alice: User, bob: User
) -> None:
    first = transfer(client, alice, bob, "5.00", key="retry-3")
    assert first["status"] == "FAILED"
    fund(client, alice, "10.00")
    # The key names that one request: its outcome stays FAILED, a new key is a new request.
    assert transfer(client, alice, bob, "5.00", key="retry-3") == first
    assert transfer(client, alice, bob, "5.00", key="retry-4")["status"] == "SUCCESS"


def test_idempotency_keys_belong_to_the_sender(client: TestClient, alice: User, bob: User) -> None:
    fund(client, alice, "10.00")
    fund(client, bob, "10.00")
    transfer(client, alice, bob, "1.00", key="shared-key")
    assert transfer(client, bob, alice, "2.00", key="shared-key")["amount"] == "2.00"


# -- reading transactions --------------------------------------------------------------------


def test_both_parties_and_admins_can_read_a_transaction(
    client: TestClient, alice: User, bob: User, admin: User
) -> None:
    fund(client, alice, "10.00")
    made = transfer(client, alice, bob, "1.00")
    for reader in (alice, bob, admin):
        response = client.get(f"/transactions/{made['transaction_id']}", headers=reader.headers)
        assert response.json() == made


def test_anyone_else_is_forbidden_to_read_a_transaction(
    client: TestClient, alice: User, bob: User, new_user: Any
) -> None:
    fund(client, alice, "10.00")
    made = transfer(client, alice, bob, "1.00")
    carol: User = new_user()
    response = client.get(f"/transactions/{made['transaction_id']}", headers=carol.headers)
    assert response.status_code == 403


def test_history_is_newest_first_and_paginated(client: TestClient, alice: User, bob: User) -> None:
    fund(client, alice, "10.00")
    amounts = [f"0.0{n}" for n in range(1, 6)]
    for amount in amounts:
        transfer(client, alice, bob, amount)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(
            f"/accounts/{alice.account_id}/transactions", params=params, headers=alice.headers
        ).json()
        seen += [item["amount"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Five transfers out, then the top-up that funded them, the oldest.
    assert seen == [*reversed(amounts), "10.00"]
    assert pages == 3


def test_history_shows_top_ups_from_payments(client: TestClient, alice: User) -> None:
    fund(client, alice, "12.34")
    [item] = client.get(f"/accounts/{alice.account_id}/transactions", headers=alice.headers).json()[
        "items"
    ]
    assert item["kind"] == "top_up"
    assert item["sender_id"] is None
    assert item["receiver_id"] == alice.account_id
    assert item["amount"] == "12.34"
    assert item["status"] == "SUCCESS"


def test_history_is_for_the_owner_and_admins(
    client: TestClient, alice: User, bob: User, admin: User
) -> None:
    url = f"/accounts/{alice.account_id}/transactions"
    assert client.get(url, headers=bob.headers).status_code == 403
    assert client.get(url, headers=admin.headers).status_code == 200
    assert client.get("/accounts/nope/transactions", headers=alice.headers).status_code == 404
