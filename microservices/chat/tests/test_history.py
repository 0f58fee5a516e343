"""History: every message is stored and can be paged back, newest last."""

import uuid

from fastapi.testclient import TestClient

from servicekit.testing import TokenFactory


def _send(client: TestClient, room: str, texts: list[str]) -> list[dict[str, object]]:
    frames = []
    with client.websocket_connect(f"/ws/{room}") as websocket:
        for text in texts:
            websocket.send_json({"message": text, "phone_number": "123", "avatar": "url"})
            frames.append(websocket.receive_json())
    return frames


def test_history_lists_stored_messages_newest_last(client: TestClient) -> None:
    frames = _send(client, "diary", ["one", "two", "three"])
    page = client.get("/rooms/diary/messages")
    assert page.status_code == 200
    body = page.json()
    assert [m["message"] for m in body["messages"]] == ["one", "two", "three"]
    assert body["has_more"] is False
    first = body["messages"][0]
    assert first["id"] == frames[0]["id"]
    assert first["sent_at"] == frames[0]["sent_at"]
    assert first["sent_at"].endswith("+00:00")
    assert (first["phone_number"], first["avatar"], first["authenticated"]) == ("123", "url", False)


def test_history_pages_back_with_limit_and_before(client: TestClient) -> None:
    _send(client, "paged", [f"m{n}" for n in range(5)])
    latest = client.get("/rooms/paged/messages", params={"limit": 2}).json()
    assert [m["message"] for m in latest["messages"]] == ["m3", "m4"]
    assert latest["has_more"] is True
    older = client.get(
        "/rooms/paged/messages", params={"limit": 2, "before": latest["messages"][0]["id"]}
    ).json()
    assert [m["message"] for m in older["messages"]] == ["m1", "m2"]
    oldest = client.get(
        "/rooms/paged/messages", params={"limit": 2, "before": older["messages"][0]["id"]}
    ).json()
    assert [m["message"] for m in oldest["messages"]] == ["m0"]
    assert oldest["has_more"] is False


def test_history_of_a_room_holds_only_that_room(client: TestClient) -> None:
    _send(client, "mine", ["for mine"])
    _send(client, "theirs", ["for theirs"])
    assert [m["message"] for m in client.get("/rooms/mine/messages").json()["messages"]] == [
        "for mine"
    ]
    assert client.get("/rooms/empty/messages").json() == {
        "room_name": "empty",
        "messages": [],
        "has_more": False,
    }


def test_history_keeps_the_verified_identity(client: TestClient, tokens: TokenFactory) -> None:
    token = tokens.issue("user-h", phone_number="+15550009999")
    with client.websocket_connect(f"/ws/verified?token={token}") as websocket:
        websocket.send_json({"message": "signed", "phone_number": "spoof"})
        websocket.receive_json()
    [message] = client.get("/rooms/verified/messages").json()["messages"]
    assert (message["phone_number"], message["user_id"]) == ("+15550009999", "user-h")
    assert message["authenticated"] is True


def test_bad_history_queries_are_rejected(client: TestClient) -> None:
    assert client.get("/rooms/r/messages", params={"limit": 0}).status_code == 422
    assert client.get("/rooms/r/messages", params={"limit": 201}).status_code == 422
    assert client.get("/rooms/r/messages", params={"before": "not-a-uuid"}).status_code == 422
    unknown = client.get("/rooms/r/messages", params={"before": str(uuid.uuid4())})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "No such message in this room"}


def test_a_cursor_from_another_room_is_not_found(client: TestClient) -> None:
    [frame] = _send(client, "elsewhere", ["x"])
    response = client.get("/rooms/here/messages", params={"before": frame["id"]})
    assert response.status_code == 404
