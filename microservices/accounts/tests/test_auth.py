"""Refresh tokens: single-use, rotating, and a replayed one ends the whole session.

The password grant and the tokens it answers are in test_tokens.py.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support import User


def test_refresh_token_gives_a_new_pair(client: TestClient, alice: User) -> None:
    response = client.post(
        "/auth/token", json={"grant_type": "refresh_token", "refresh_token": alice.refresh_token}
    )
    assert response.status_code == 200
    pair = response.json()
    assert pair["refresh_token"] != alice.refresh_token
    me = client.get("/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.json()["user_id"] == alice.user_id


def test_a_refresh_token_works_only_once(client: TestClient, alice: User) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": alice.refresh_token}
    assert client.post("/auth/token", data=form).status_code == 200
    again = client.post("/auth/token", data=form)
    assert again.status_code == 401
    assert again.json() == {"detail": "Invalid or expired refresh token"}


def test_reusing_a_spent_refresh_token_revokes_the_whole_session(
    client: TestClient, alice: User
) -> None:
    first = {"grant_type": "refresh_token", "refresh_token": alice.refresh_token}
    successor = client.post("/auth/token", json=first).json()["refresh_token"]
    # Someone replays the spent token (it was stolen): the legitimate successor dies too.
    assert client.post("/auth/token", json=first).status_code == 401
    second = {"grant_type": "refresh_token", "refresh_token": successor}
    assert client.post("/auth/token", json=second).status_code == 401
