"""A client that never reads: the room keeps its pace, the client is cut off, memory stays flat.

Runs against a real uvicorn process (TestClient has no sockets, hence no back-pressure). The
slow client is a raw TCP socket with a tiny receive buffer that completes the WebSocket
handshake and then never reads again, so the server's writes to it really do block.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from devstack.stack import SERVICES_DIR
from servicekit.testing import running_service
from tests.chat_clients import new_room, next_frame, ws_url

MESSAGE_LENGTH = 16_000
MESSAGES = 1_500  # ~24 MB aimed at the slow client, far more than every buffer on the way
LATENCY_BOUND_SECONDS = 1.0
RSS_GROWTH_BOUND_BYTES = 12 * 1024 * 1024


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A chat process with small outboxes and a rate limit out of the way; (url, pid)."""
    data_dir: Path = tmp_path_factory.mktemp("chat-slow")
    env = {
        "DATA_DIR": str(data_dir),
        "CHAT_SEND_QUEUE_SIZE": "32",
        "CHAT_MAX_MESSAGE_LENGTH": str(MESSAGE_LENGTH),
        "CHAT_RATE_LIMIT_PER_SECOND": "100000",
        "CHAT_RATE_LIMIT_BURST": "100000",
        "LOG_LEVEL": "WARNING",
    }
    with running_service(
        SERVICES_DIR / "chat", env, log_path=data_dir / "chat.log", ready_timeout=30
    ) as chat:
        yield chat.url, chat.pid


def _rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match.group(1)) * 1024


def _open_non_reading_socket(port: int, room: str) -> socket.socket:
    """Complete a WebSocket handshake by hand on a socket with a tiny receive buffer."""
    sock = socket.socket()
    # Set before connecting so that the advertised TCP window starts (and stays) small.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    sock.sendall(
        f"GET /ws/{room} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)
        assert chunk, "server closed during the handshake"
        response += chunk
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def _drain_until_closed(sock: socket.socket, within: float) -> bool:
    """Read everything the server still sends; True once it closes the connection."""
    deadline = time.monotonic() + within
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(1 << 20):
                return True
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True
    return False


def _metric(base_url: str, name: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values)


def _round_trip(sender: ClientConnection, listener: ClientConnection, n: int, body: str) -> float:
    started = time.perf_counter()
    sender.send(json.dumps({"message": f"{n}:{body}", "phone_number": "fast"}))
    for ws in (sender, listener):
        frame = next_frame(ws, timeout=LATENCY_BOUND_SECONDS * 5)
        assert frame["message"].startswith(f"{n}:")
    return time.perf_counter() - started


def test_a_client_that_never_reads_does_not_delay_the_room_and_is_disconnected(
    chat_server: tuple[str, int],
) -> None:
    url, pid = chat_server
    port = int(url.rsplit(":", 1)[1])
    room = new_room()
    body = "x" * (MESSAGE_LENGTH - 10)
    disconnects_before = _metric(url, 'chat_disconnects_total{reason="slow_consumer"}') + _metric(
        url, 'chat_disconnects_total{reason="stalled"}'
    )
    with (
        connect(ws_url(url, f"/ws/{room}"), compression=None) as sender,
        connect(ws_url(url, f"/ws/{room}"), compression=None) as listener,
    ):
        # Warm up (SQLite pages, allocator arenas) before taking the memory baseline.
        for n in range(100):
            _round_trip(sender, listener, n, body)
        rss_before = _rss_bytes(pid)

        slow = _open_non_reading_socket(port, room)
        try:
            assert httpx.get(f"{url}/rooms/{room}/info").json()["active_connections"] == 3
            latencies = [_round_trip(sender, listener, n, body) for n in range(MESSAGES)]
            rss_after = _rss_bytes(pid)
            still_there = httpx.get(f"{url}/rooms/{room}/info").json()["active_connections"]
            closed = _drain_until_closed(slow, within=20)
        finally:
            slow.close()

    assert max(latencies) < LATENCY_BOUND_SECONDS, f"slowest round trip {max(latencies):.3f}s"
    assert still_there == 2, "the client that never reads was not disconnected"
    assert closed, "the server never closed the non-reading connection"
    disconnects_after = _metric(url, 'chat_disconnects_total{reason="slow_consumer"}') + _metric(
        url, 'chat_disconnects_total{reason="stalled"}'
    )
    assert disconnects_after == disconnects_before + 1
    growth = rss_after - rss_before
    assert growth < RSS_GROWTH_BOUND_BYTES, f"server memory grew by {growth / 2**20:.1f} MiB"
