"""The WebSocket protocol: what clients may send, and every frame the server sends.

Pure functions and small value types, testable without a socket. Client frames are JSON
objects; a chat message is ``{"message", "phone_number", "avatar"}`` (the seed's shape),
optionally with ``"type": "message"``. ``{"type": "pong"}`` answers a server ping.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ROOM_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ROOM_NAME = re.compile(ROOM_NAME_PATTERN)

MAX_PHONE_NUMBER_LENGTH = 32
MAX_AVATAR_LENGTH = 2048
ANONYMOUS_NAME = "anonymous"
# Members listed in a presence frame; the count is always exact.
MAX_LISTED_MEMBERS = 100


def is_valid_room_name(name: str) -> bool:
    """Room names are 1-64 letters, digits, ``-`` or ``_``."""
    return _ROOM_NAME.fullmatch(name) is not None


def max_frame_length(max_message_length: int) -> int:
    """Longest raw client frame worth parsing: every field at its limit, fully escaped."""
    # JSON may spell one character as a 6-character \\uXXXX escape.
    return 6 * (max_message_length + MAX_AVATAR_LENGTH + MAX_PHONE_NUMBER_LENGTH) + 1024


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is behind a connection: a verified user, or an anonymous client."""

    user_id: str | None = None
    phone_number: str | None = None

    @property
    def authenticated(self) -> bool:
        """True when the identity comes from a verified token."""
        return self.user_id is not None

    @property
    def member_label(self) -> str:
        """How a presence list names this connection ("" for anonymous ones)."""
        return (self.phone_number or self.user_id or "") if self.authenticated else ""


@dataclass(frozen=True, slots=True)
class ChatInput:
    """A chat message as a client sent it, validated."""

    message: str
    phone_number: str | None
    avatar: str


@dataclass(frozen=True, slots=True)
class Pong:
    """A client's answer to a server ping."""


class InvalidFrame(ValueError):
    """A client frame the server cannot use; ``detail`` goes back to that client."""

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason


def parse_client_frame(text: str, *, max_message_length: int) -> ChatInput | Pong:
    """Parse and validate one text frame from a client; raises InvalidFrame."""
    if len(text) > max_frame_length(max_message_length):
        raise InvalidFrame("Frame too large", "too_long")
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidFrame("Invalid JSON", "invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidFrame("Expected a JSON object", "invalid_message")
    kind = data.get("type", "message")
    if kind == "pong":
        return Pong()
    if kind != "message":
        raise InvalidFrame("Unknown frame type; send a message or a pong", "unknown_type")
    message = data.get("message")
    if not isinstance(message, str) or not message.strip():
        raise InvalidFrame("'message' must be a non-empty string", "invalid_message")
    if len(message) > max_message_length:
        raise InvalidFrame(f"'message' is longer than {max_message_length} characters", "too_long")
    phone_number = _optional_string(data, "phone_number", MAX_PHONE_NUMBER_LENGTH)
    avatar = _optional_string(data, "avatar", MAX_AVATAR_LENGTH)
    return ChatInput(message=message, phone_number=phone_number, avatar=avatar or "")


def _optional_string(data: dict[str, Any], field: str, max_length: int) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidFrame(f"'{field}' must be a string", "invalid_message")
    if len(value) > max_length:
        raise InvalidFrame(f"'{field}' is longer than {max_length} characters", "too_long")
    return value


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A message as it is stored, delivered and listed in history."""

    id: str
    room: str
    message: str
    phone_number: str
    avatar: str
    user_id: str | None
    sent_at: datetime

    @property
    def authenticated(self) -> bool:
        """True when the sender's identity was verified from a token."""
        return self.user_id is not None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of a message (history items and live frames alike)."""
        return {
            "id": self.id,
            "room": self.room,
            "message": self.message,
            "phone_number": self.phone_number,
            "avatar": self.avatar,
            "user_id": self.user_id,
            "authenticated": self.authenticated,
            "sent_at": self.sent_at.isoformat(),
        }


def compose_message(room: str, identity: Identity, chat_input: ChatInput) -> ChatMessage:
    """The message a client's input becomes: a verified identity overrides any claimed one."""
    if identity.authenticated:
        phone_number = identity.phone_number or identity.user_id or ANONYMOUS_NAME
    else:
        phone_number = chat_input.phone_number or ANONYMOUS_NAME
    return ChatMessage(
        id=str(uuid.uuid4()),
        room=room,
        message=chat_input.message,
        phone_number=phone_number,
        avatar=chat_input.avatar,
        user_id=identity.user_id,
        sent_at=datetime.now(UTC),
    )


@dataclass(frozen=True, slots=True)
class Presence:
    """Who is in a room: every connection counted, signed-in members named."""

    active_connections: int
    members: tuple[str, ...]

    @classmethod
    def from_labels(cls, labels: list[str]) -> Presence:
        """Presence from one member label per connection ("" for anonymous)."""
        named = sorted({label for label in labels if label})
        return cls(active_connections=len(labels), members=tuple(named[:MAX_LISTED_MEMBERS]))


def _encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def message_frame(message: ChatMessage) -> str:
    """The frame every socket in the room receives for a message."""
    return _encode({"type": "message", **message.as_dict()})


def error_frame(detail: str) -> str:
    """A frame telling one client what was wrong with what it sent."""
    return _encode({"type": "error", "detail": detail})


def ping_frame() -> str:
    """The server's periodic keep-alive; clients may answer ``{"type": "pong"}``."""
    return _encode({"type": "ping", "sent_at": datetime.now(UTC).isoformat()})


def presence_frame(room: str, presence: Presence) -> str:
    """Sent to presence subscribers whenever someone joins or leaves."""
    return _encode(
        {
            "type": "presence",
            "room": room,
            "active_connections": presence.active_connections,
            "members": list(presence.members),
        }
    )


def welcome_frame(
    room: str, connection_id: str, identity: Identity, *, ping_interval: float
) -> str:
    """Sent first to presence subscribers: who the server thinks they are."""
    return _encode(
        {
            "type": "welcome",
            "room": room,
            "connection_id": connection_id,
            "user_id": identity.user_id,
            "phone_number": identity.phone_number,
            "authenticated": identity.authenticated,
            "ping_interval": ping_interval,
        }
    )
