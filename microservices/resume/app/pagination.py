"""Opaque keyset cursors: the position after the last resume of a page.

Pages are ordered by ``(created_at, resume_id)``; a cursor names the last pair a client saw,
so the next page starts strictly after it. Resumes created meanwhile land at the end and
never shift, duplicate or hide the ones a client is still paging through.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

# What this service writes: fixed-width UTC timestamps and UUIDs. Anything else is forged.
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00")
_RESUME_ID = re.compile(r"[0-9a-f-]{36}")


class InvalidCursor(ValueError):
    """The cursor was not produced by this service (or was altered)."""


@dataclass(frozen=True, slots=True)
class Position:
    """A place in the listing order."""

    created_at: str
    resume_id: str


def encode_cursor(position: Position) -> str:
    """An opaque, URL-safe token for ``position``."""
    raw = json.dumps([position.created_at, position.resume_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; raises InvalidCursor for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (UnicodeError, binascii.Error, ValueError):
        raise InvalidCursor("invalid cursor") from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(part, str) for part in value)
        or not _TIMESTAMP.fullmatch(value[0])
        or not _RESUME_ID.fullmatch(value[1])
    ):
        raise InvalidCursor("invalid cursor")
    return Position(created_at=value[0], resume_id=value[1])
