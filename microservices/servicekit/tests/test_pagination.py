"""Keyset cursors: what encode hands out, decode takes back; anything else is a 422."""

from datetime import UTC, datetime

import pytest

from servicekit.pagination import InvalidCursor, decode_cursor, encode_cursor


def test_a_cursor_round_trips_its_position() -> None:
    moment = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC)
    assert decode_cursor(encode_cursor(moment, "item-7")) == (moment, "item-7")


@pytest.mark.parametrize(
    "cursor",
    ["", "not-base64!", "WzFd", encode_cursor(datetime(2026, 1, 1), "naive-time")],
)
def test_forged_or_altered_cursors_are_refused_with_422(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor(cursor)
    assert refused.value.status_code == 422
