"""Small helpers the chat system tests share: WebSocket URLs and reading chat frames."""

from __future__ import annotations

import json
import secrets
from typing import Any

from websockets.sync.client import ClientConnection

# Frames every client may receive at any time and that a test looking for messages skips.
_BACKGROUND = frozenset({"ping", "presence", "welcome"})


def ws_url(http_base: str, path: str) -> str:
    """The ``ws://`` URL of ``path`` under an ``http://`` base (gateway or service)."""
    return "ws://" + http_base.removeprefix("http://").rstrip("/") + path


def new_room() -> str:
    """A room name no other test uses."""
    return f"room-{secrets.token_hex(6)}"


def next_frame(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next message or error frame (pings and presence skipped)."""
    while True:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
        if frame.get("type") not in _BACKGROUND:
            return frame


def send_json(ws: ClientConnection, data: object) -> None:
    """Send one JSON text frame."""
    ws.send(json.dumps(data))
