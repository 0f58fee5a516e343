"""Identity: a verified token fixes who speaks; a bad token or a forbidden anonymous is refused."""

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from servicekit.testing import TokenFactory
from tests.conftest import ClientFactory


def test_spoofed_phone_number_is_ignored_for_an_authenticated_client(
    client: TestClient, tokens: TokenFactory
) -> None:
    token = tokens.issue("user-1", phone_number="+15550001111")
    with client.websocket_connect(f"/ws/secure?token={token}") as websocket:
        websocket.send_json({"message": "hi", "phone_number": "+19999999999", "avatar": "a"})
        data = websocket.receive_json()
    assert data["phone_number"] == "+15550001111"
    assert data["user_id"] == "user-1"
    assert data["authenticated"] is True


def test_a_token_in_the_authorization_header_is_accepted(
    client: TestClient, tokens: TokenFactory
) -> None:
    headers = tokens.headers("user-2", phone_number="+15550002222")
    with client.websocket_connect("/ws/secure", headers=headers) as websocket:
        websocket.send_json({"message": "hi", "phone_number": "someone else"})
        assert websocket.receive_json()["phone_number"] == "+15550002222"


def test_the_welcome_frame_names_the_verified_user(
    client: TestClient, tokens: TokenFactory
) -> None:
    token = tokens.issue("user-3", phone_number="+15550003333")
    with client.websocket_connect(f"/ws/secure?presence=1&token={token}") as websocket:
        welcome = websocket.receive_json()
        presence = websocket.receive_json()
    assert welcome["user_id"] == "user-3"
    assert welcome["authenticated"] is True
    assert presence["members"] == ["+15550003333"]


@pytest.mark.parametrize(
    "token",
    ["not-a-jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."],
    ids=["garbage", "alg-none"],
)
def test_a_bad_token_is_refused_with_policy_violation(client: TestClient, token: str) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(f"/ws/secure?token={token}"),
    ):
        pass
    assert refused.value.code == 1008


def test_an_expired_token_is_refused(client: TestClient, tokens: TokenFactory) -> None:
    token = tokens.issue("user-4", expires_in=-60)
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws/secure", headers={"Authorization": f"Bearer {token}"}),
    ):
        pass
    assert refused.value.code == 1008


def test_anonymous_clients_are_refused_when_the_setting_forbids_them(
    make_client: ClientFactory, tokens: TokenFactory
) -> None:
    client = make_client(allow_anonymous=False)
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws/private"):
        pass
    assert refused.value.code == 1008
    token = tokens.issue("user-5", phone_number="+15550005555")
    with client.websocket_connect(f"/ws/private?token={token}") as websocket:
        websocket.send_json({"message": "members only"})
        assert websocket.receive_json()["message"] == "members only"
