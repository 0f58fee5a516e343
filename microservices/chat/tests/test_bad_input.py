"""Bad input gets an error frame to its sender and never kills the connection."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.conftest import ClientFactory


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: frame validation is not storage (history runs on both engines)."""
    return f"sqlite:///{tmp_path / 'chat.db'}"


def test_invalid_json_gets_an_error_frame_and_the_connection_stays_usable(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws/robust") as websocket:
        websocket.send_text("{not json")
        assert websocket.receive_json() == {"type": "error", "detail": "Invalid JSON"}
        websocket.send_json({"message": "still here"})
        assert websocket.receive_json()["message"] == "still here"


@pytest.mark.parametrize(
    ("frame", "detail"),
    [
        ({"phone_number": "1"}, "'message' must be a non-empty string"),
        ({"message": 42}, "'message' must be a non-empty string"),
        ({"message": "   "}, "'message' must be a non-empty string"),
        ({"message": "x" * 2001}, "'message' is longer than 2000 characters"),
        ({"message": "hi", "avatar": ["a"]}, "'avatar' must be a string"),
        (
            {"message": "hi", "phone_number": "9" * 33},
            "'phone_number' is longer than 32 characters",
        ),
        ({"type": "shout", "message": "hi"}, "Unknown frame type; send a message or a pong"),
        (["message"], "Expected a JSON object"),
    ],
    ids=[
        "missing",
        "number",
        "blank",
        "too-long",
        "avatar-list",
        "phone-too-long",
        "unknown-type",
        "array",
    ],
)
def test_invalid_messages_get_an_error_frame(
    client: TestClient, frame: object, detail: str
) -> None:
    with client.websocket_connect("/ws/robust") as websocket:
        websocket.send_json(frame)
        assert websocket.receive_json() == {"type": "error", "detail": detail}
        websocket.send_json({"message": "after the error"})
        assert websocket.receive_json()["message"] == "after the error"


def test_an_error_frame_goes_only_to_the_sender(client: TestClient) -> None:
    with (
        client.websocket_connect("/ws/robust") as sender,
        client.websocket_connect("/ws/robust") as bystander,
    ):
        sender.send_text("oops")
        assert sender.receive_json()["type"] == "error"
        sender.send_json({"message": "fine"})
        # The bystander's first frame is the message, not the sender's error.
        assert bystander.receive_json()["message"] == "fine"


def test_binary_frames_get_an_error_frame(client: TestClient) -> None:
    with client.websocket_connect("/ws/robust") as websocket:
        websocket.send_bytes(b"\x00\x01")
        assert websocket.receive_json()["type"] == "error"


def test_the_message_length_limit_is_configurable(make_client: ClientFactory) -> None:
    client = make_client(max_message_length=5)
    with client.websocket_connect("/ws/short") as websocket:
        websocket.send_json({"message": "123456"})
        assert websocket.receive_json()["detail"] == "'message' is longer than 5 characters"
        websocket.send_json({"message": "12345"})
        assert websocket.receive_json()["message"] == "12345"


def test_a_flooding_client_is_throttled_then_disconnected(make_client: ClientFactory) -> None:
    client = make_client(rate_limit_per_second=0.01, rate_limit_burst=2, rate_limit_strikes=3)
    with client.websocket_connect("/ws/flood") as websocket:
        for n in range(2):
            websocket.send_json({"message": f"burst {n}"})
            assert websocket.receive_json()["message"] == f"burst {n}"
        for _ in range(2):
            websocket.send_json({"message": "too fast"})
            assert websocket.receive_json() == {
                "type": "error",
                "detail": "Too many messages; slow down",
            }
        websocket.send_json({"message": "still too fast"})
        with pytest.raises(WebSocketDisconnect) as closed:
            websocket.receive_json()
    assert closed.value.code == 1008


@pytest.mark.parametrize("room", ["has space", "x" * 65, "semi;colon", "ünïcode"])
def test_invalid_room_names_are_refused(client: TestClient, room: str) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(f"/ws/{room}"):
        pass
    assert refused.value.code == 1008
    assert client.get(f"/rooms/{room}/info").status_code == 422
    assert client.get(f"/rooms/{room}/messages").status_code == 422
