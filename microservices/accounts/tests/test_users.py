"""Registration and profiles: the seed's behaviours, made real."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from tests.support import PASSWORD, User, next_phone


def test_create_user_answers_the_user_and_their_new_account(client: TestClient) -> None:
    response = client.post(
        "/users",
        json={
            "phone_number": "1234567890",
            "password": "password123",
            "date_of_birth": "1990-01-01",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["phone_number"] == "1234567890"
    assert body["date_of_birth"] == "1990-01-01"
    assert body["is_active"] is True
    assert body["is_admin"] is False
    assert datetime.fromisoformat(body["created_at"]).utcoffset() == timedelta(0)
    assert body["user_id"] != body["account_id"]
    assert "password" not in response.text
    assert "password123" not in response.text


def test_duplicate_phone_is_refused_with_already_exists(client: TestClient) -> None:
    phone = next_phone()
    assert client.post("/users", json={"phone_number": phone, "password": PASSWORD}).is_success
    again = client.post("/users", json={"phone_number": phone, "password": "another password"})
    assert again.status_code == 400
    assert "already exists" in again.json()["detail"]


def test_phone_numbers_are_normalised_so_formatting_cannot_make_a_duplicate(
    client: TestClient,
) -> None:
    first = client.post("/users", json={"phone_number": "+1 (555) 010-9999", "password": PASSWORD})
    assert first.json()["phone_number"] == "+15550109999"
    second = client.post("/users", json={"phone_number": "+1 555 010 9999", "password": PASSWORD})
    assert second.status_code == 400


def test_users_me_answers_the_signed_in_user(client: TestClient, alice: User) -> None:
    response = client.get("/users/me", headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["user_id"] == alice.user_id
    assert response.json()["phone_number"] == alice.phone_number


def test_a_user_sees_their_own_private_fields(client: TestClient, alice: User) -> None:
    response = client.get(f"/users/{alice.user_id}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["phone_number"] == alice.phone_number
    assert "date_of_birth" in response.json()


def test_other_users_see_no_phone_number_or_date_of_birth(
    client: TestClient, alice: User, bob: User
) -> None:
    response = client.get(f"/users/{alice.user_id}", headers=bob.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == alice.user_id
    assert body["account_id"] == alice.account_id
    assert "phone_number" not in body
    assert "date_of_birth" not in body


def test_an_admin_sees_private_fields_of_anyone(
    client: TestClient, alice: User, admin: User
) -> None:
    response = client.get(f"/users/{alice.user_id}", headers=admin.headers)
    assert response.json()["phone_number"] == alice.phone_number
