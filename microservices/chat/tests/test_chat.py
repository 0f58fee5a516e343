"""The seed's chat behaviour: rooms over WebSockets, broadcast to every socket, room info."""

from fastapi.testclient import TestClient

SEED_MESSAGE = {"message": "Hello!", "phone_number": "123", "avatar": "url"}


def test_websocket_message_is_echoed_with_the_seed_fields(client: TestClient) -> None:
    with client.websocket_connect("/ws/test-room") as websocket:
        websocket.send_json(SEED_MESSAGE)
        data = websocket.receive_json()
    assert {key: data[key] for key in SEED_MESSAGE} == SEED_MESSAGE
    assert data["type"] == "message"
    assert data["room"] == "test-room"
    assert data["authenticated"] is False


def test_every_socket_in_the_room_receives_a_message(client: TestClient) -> None:
    with (
        client.websocket_connect("/ws/lobby") as alice,
        client.websocket_connect("/ws/lobby") as bob,
    ):
        alice.send_json(SEED_MESSAGE)
        to_alice = alice.receive_json()
        to_bob = bob.receive_json()
    assert to_alice == to_bob
    assert to_bob["message"] == "Hello!"


def test_messages_stay_in_their_room(client: TestClient) -> None:
    with (
        client.websocket_connect("/ws/room-a") as in_a,
        client.websocket_connect("/ws/room-b") as in_b,
    ):
        in_a.send_json({"message": "only for a"})
        in_b.send_json({"message": "only for b"})
        assert in_a.receive_json()["message"] == "only for a"
        assert in_b.receive_json()["message"] == "only for b"


def test_room_info_counts_active_connections(client: TestClient) -> None:
    assert client.get("/rooms/counted/info").json() == {
        "room_name": "counted",
        "active_connections": 0,
    }
    with client.websocket_connect("/ws/counted"), client.websocket_connect("/ws/counted"):
        info = client.get("/rooms/counted/info")
        assert info.status_code == 200
        assert info.json() == {"room_name": "counted", "active_connections": 2}
    assert client.get("/rooms/counted/info").json()["active_connections"] == 0


def test_presence_subscribers_get_a_welcome_and_join_updates(client: TestClient) -> None:
    with client.websocket_connect("/ws/lively?presence=true") as watcher:
        welcome = watcher.receive_json()
        assert welcome["type"] == "welcome"
        assert welcome["authenticated"] is False
        assert watcher.receive_json() == {
            "type": "presence",
            "room": "lively",
            "active_connections": 1,
            "members": [],
        }
        with client.websocket_connect("/ws/lively"):
            assert watcher.receive_json()["active_connections"] == 2
        assert watcher.receive_json()["active_connections"] == 1


def test_the_chat_page_is_served_with_relative_urls(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'src="static/chat.js"' in page.text
    assert 'href="static/chat.css"' in page.text
    script = client.get("/static/chat.js")
    assert script.status_code == 200
    # The socket URL is built from the page's own location, so /chat/ works behind the gateway.
    assert "new URL(`ws/${encodeURIComponent(room)}`, pageBase)" in script.text
    assert client.get("/static/chat.css").status_code == 200
