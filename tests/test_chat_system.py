"""Chat through the real gateway: the seed's example, two clients, room info, identity."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from devstack import Stack
from tests.chat_clients import new_room, next_frame, send_json, ws_url
from tests.platform_users import sign_up

SEED_MESSAGE = {"message": "Hello!", "phone_number": "123", "avatar": "url"}


def test_the_seed_browser_example_works_through_the_gateway(stack: Stack) -> None:
    with connect(ws_url(stack.gateway_url, "/chat/ws/test-room")) as ws:
        send_json(ws, SEED_MESSAGE)
        frame = next_frame(ws)
    assert {key: frame[key] for key in SEED_MESSAGE} == SEED_MESSAGE


def test_two_clients_exchange_messages_through_the_gateway(stack: Stack) -> None:
    url = ws_url(stack.gateway_url, f"/chat/ws/{new_room()}")
    with connect(url) as alice, connect(url) as bob:
        send_json(alice, {"message": "hi bob", "phone_number": "alice", "avatar": ""})
        assert next_frame(bob)["message"] == "hi bob"
        assert next_frame(alice)["message"] == "hi bob"
        send_json(bob, {"message": "hi alice", "phone_number": "bob", "avatar": ""})
        to_alice = next_frame(alice)
        assert (to_alice["message"], to_alice["phone_number"]) == ("hi alice", "bob")


def test_room_info_counts_connections_through_the_gateway(
    stack: Stack, gateway: httpx.Client
) -> None:
    room = new_room()
    url = ws_url(stack.gateway_url, f"/chat/ws/{room}")
    with connect(url), connect(url), connect(url):
        info = gateway.get(f"/chat/rooms/{room}/info")
        assert info.status_code == 200
        assert info.json() == {"room_name": room, "active_connections": 3}


def test_history_is_served_through_the_gateway(stack: Stack, gateway: httpx.Client) -> None:
    room = new_room()
    with connect(ws_url(stack.gateway_url, f"/chat/ws/{room}")) as ws:
        for text in ("first", "second"):
            send_json(ws, {"message": text})
            next_frame(ws)
    page = gateway.get(f"/chat/rooms/{room}/messages", params={"limit": 10}).json()
    assert [m["message"] for m in page["messages"]] == ["first", "second"]


def test_invalid_json_gets_an_error_frame_and_the_socket_keeps_working(stack: Stack) -> None:
    with connect(ws_url(stack.gateway_url, f"/chat/ws/{new_room()}")) as ws:
        ws.send("{this is not json")
        assert next_frame(ws) == {"type": "error", "detail": "Invalid JSON"}
        send_json(ws, {"message": "after the error"})
        assert next_frame(ws)["message"] == "after the error"


def test_a_signed_in_client_cannot_speak_as_someone_else(
    stack: Stack, gateway: httpx.Client
) -> None:
    user = sign_up(gateway)
    room = new_room()
    signed_in = ws_url(stack.gateway_url, f"/chat/ws/{room}?token={user.access_token}")
    with connect(signed_in) as ws, connect(ws_url(stack.gateway_url, f"/chat/ws/{room}")) as peer:
        send_json(ws, {"message": "it's me", "phone_number": "+19999999999", "avatar": ""})
        frame = next_frame(peer)
    assert frame["phone_number"] == user.phone_number
    assert frame["user_id"] == user.user_id
    assert frame["authenticated"] is True


def test_a_token_in_the_authorization_header_is_honoured(
    stack: Stack, gateway: httpx.Client
) -> None:
    user = sign_up(gateway)
    url = ws_url(stack.gateway_url, f"/chat/ws/{new_room()}")
    with connect(url, additional_headers=user.headers) as ws:
        send_json(ws, {"message": "header auth", "phone_number": "someone"})
        assert next_frame(ws)["phone_number"] == user.phone_number


@pytest.mark.parametrize("token", ["garbage", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_a_bad_token_is_refused_at_the_handshake(stack: Stack, token: str) -> None:
    url = ws_url(stack.gateway_url, f"/chat/ws/{new_room()}?token={token}")
    with pytest.raises(InvalidStatus) as refused, connect(url):
        pass
    # An ASGI close before accept (code 1008, policy violation) is a 403 on the wire.
    assert refused.value.response.status_code == 403


def test_an_invalid_room_name_is_refused(stack: Stack, gateway: httpx.Client) -> None:
    with pytest.raises(InvalidStatus), connect(ws_url(stack.gateway_url, "/chat/ws/bad%20room")):
        pass
    assert gateway.get("/chat/rooms/bad%20room/info").status_code == 422


def test_the_chat_page_is_served_under_the_gateway_prefix(gateway: httpx.Client) -> None:
    page = gateway.get("/chat/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert gateway.get("/chat/static/chat.js").status_code == 200
    assert gateway.get("/chat/static/chat.css").status_code == 200
