"""Scale-out: two chat processes share Redis (fan-out, presence) and PostgreSQL (history)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from devstack import Stack
from tests.chat_clients import new_room, next_frame, send_json, ws_url

PRESENCE_TTL_SECONDS = 3


async def _admin(postgres_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def chat_database(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database both chat replicas share."""
    name = f"chat_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(postgres_url, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres_url.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_admin(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, chat_database: str
) -> Iterator[Stack]:
    """Accounts and two chat replicas behind the gateway, chat on Redis and PostgreSQL."""
    with Stack(
        data_dir=tmp_path_factory.mktemp("chat-replicas"),
        services=("accounts", "chat"),
        replicas={"chat": 2},
        env={
            "CHAT_REDIS_URL": redis_url,
            "CHAT_DATABASE_URL": chat_database,
            "CHAT_PRESENCE_TTL_SECONDS": str(PRESENCE_TTL_SECONDS),
        },
    ) as running:
        yield running


def _info(base_url: str, room: str) -> int:
    response = httpx.get(f"{base_url}/rooms/{room}/info", timeout=5)
    assert response.status_code == 200, response.text
    count: int = response.json()["active_connections"]
    return count


def test_a_message_sent_on_one_replica_reaches_a_client_on_the_other(replicas: Stack) -> None:
    room = new_room()
    first = ws_url(replicas.service_url("chat", 0), f"/ws/{room}")
    second = ws_url(replicas.service_url("chat", 1), f"/ws/{room}")
    with connect(first) as on_first, connect(second) as on_second:
        send_json(on_first, {"message": "from replica 0", "phone_number": "a", "avatar": ""})
        assert next_frame(on_second)["message"] == "from replica 0"
        send_json(on_second, {"message": "from replica 1", "phone_number": "b", "avatar": ""})
        assert next_frame(on_first)["message"] == "from replica 0"
        assert next_frame(on_first)["message"] == "from replica 1"


def test_room_info_counts_connections_on_every_replica(replicas: Stack) -> None:
    room = new_room()
    first = ws_url(replicas.service_url("chat", 0), f"/ws/{room}")
    second = ws_url(replicas.service_url("chat", 1), f"/ws/{room}")
    with connect(first), connect(second), connect(second):
        assert _info(replicas.service_url("chat", 0), room) == 3
        assert _info(replicas.service_url("chat", 1), room) == 3
        assert _info(f"{replicas.gateway_url}/chat", room) == 3
    assert _info(replicas.service_url("chat", 0), room) == 0


def test_history_written_through_one_replica_is_read_through_the_other(replicas: Stack) -> None:
    room = new_room()
    with connect(ws_url(replicas.service_url("chat", 0), f"/ws/{room}")) as ws:
        send_json(ws, {"message": "remember me"})
        sent = next_frame(ws)
    page = httpx.get(f"{replicas.service_url('chat', 1)}/rooms/{room}/messages", timeout=5)
    assert [m["id"] for m in page.json()["messages"]] == [sent["id"]]


def test_clients_behind_the_gateway_talk_whichever_replica_they_land_on(
    replicas: Stack,
) -> None:
    url = ws_url(replicas.gateway_url, f"/chat/ws/{new_room()}")
    # Nginx spreads new connections over both replicas; four clients cover both.
    with connect(url) as a, connect(url) as b, connect(url) as c, connect(url) as d:
        send_json(a, {"message": "everyone?"})
        assert [next_frame(ws)["message"] for ws in (a, b, c, d)] == ["everyone?"] * 4


def test_a_crashed_replicas_connections_leave_the_count(replicas: Stack) -> None:
    room = new_room()
    survivor = replicas.service_url("chat", 0)
    with connect(ws_url(replicas.service_url("chat", 1), f"/ws/{room}")):
        assert _info(survivor, room) == 1
        replicas.stop_service("chat", 1, kill=True)
        try:
            deadline = time.monotonic() + PRESENCE_TTL_SECONDS + 5
            while _info(survivor, room) != 0:
                assert time.monotonic() < deadline, "the dead replica's connection still counts"
                time.sleep(0.2)
        finally:
            replicas.start_service("chat", 1)
