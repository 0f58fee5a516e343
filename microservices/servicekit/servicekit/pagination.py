"""Opaque keyset cursors for newest-first pages: the (created_at, id) of the last item shown.

A page asks for rows strictly before that pair in (created_at, id) order, so rows inserted
while a client pages never shift, repeat or hide the ones it has not seen yet.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from servicekit.errors import ClientError


class InvalidCursor(ClientError):
    """The cursor was not handed out by this service (or was altered)."""

    status_code = 422
    detail = "Invalid cursor: pass the next_cursor of the previous page"


def encode_cursor(created_at: datetime, item_id: str) -> str:
    """The cursor that continues after this item."""
    raw = json.dumps([created_at.isoformat(), item_id], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor stands for; InvalidCursor if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, item_id = json.loads(raw)
        moment = datetime.fromisoformat(created_at)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursor() from exc
    if moment.tzinfo is None or not isinstance(item_id, str):
        raise InvalidCursor()
    return moment, item_id
