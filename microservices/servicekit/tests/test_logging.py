"""JSON log lines: one object per line, UTC timestamps, the request id, the extra fields."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from decimal import Decimal

import pytest

from servicekit.logging import JsonFormatter, JsonLinesHandler, request_id_var


def _record(created: float, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("sample", logging.INFO, __file__, 1, "paid %s", ("10.00",), None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    record.__dict__.update(extra)
    return record


def test_a_line_has_a_utc_timestamp_with_milliseconds_even_across_seconds() -> None:
    formatter = JsonFormatter("sample")
    first = json.loads(formatter.format(_record(1_796_119_199.9876)))
    second = json.loads(formatter.format(_record(1_796_119_200.0042)))
    last = json.loads(formatter.format(_record(1_796_119_200.9999998)))
    assert first["time"] == "2026-12-01T09:59:59.987+00:00"
    assert second["time"] == "2026-12-01T10:00:00.004+00:00"
    assert last["time"] == "2026-12-01T10:00:00.999+00:00"


def test_a_line_carries_the_message_request_id_and_extra_fields() -> None:
    token = request_id_var.set("trace-1")
    try:
        line = json.loads(JsonFormatter("sample").format(_record(0.5, payment_id="p-1", _hidden=1)))
    finally:
        request_id_var.reset(token)
    assert line == {
        "time": "1970-01-01T00:00:00.500+00:00",
        "level": "INFO",
        "service": "sample",
        "logger": "sample",
        "message": "paid 10.00",
        "request_id": "trace-1",
        "payment_id": "p-1",
    }


def test_a_field_json_has_no_type_for_is_logged_as_text_and_odd_ones_are_not_lost() -> None:
    formatter = JsonFormatter("sample")
    amount = Decimal("10.00")
    line = json.loads(formatter.format(_record(0.5, amount=amount, customer="Zoë")))
    assert (line["amount"], line["customer"]) == ("10.00", "Zoë")
    # Integer keys and integers past 64 bits are valid here, so the line must still come out.
    odd = json.loads(formatter.format(_record(0.5, counts={1: "one"}, big=2**70)))
    assert (odd["counts"], odd["big"]) == ({"1": "one"}, 2**70)


def _line(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("sample", level, __file__, 1, message, (), None)


def _messages(stream: io.StringIO) -> list[str]:
    return [json.loads(line)["message"] for line in stream.getvalue().splitlines()]


class _CountingStream(io.StringIO):
    """A stream that counts its writes."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_access_lines_are_written_together_with_one_write() -> None:
    stream = _CountingStream()
    handler = JsonLinesHandler(stream, "sample")
    handler.write_lines([handler.formatter.format(_line(m)) for m in ("first", "second")])
    assert _messages(stream) == ["first", "second"]
    assert stream.writes == 1


def test_a_record_is_written_at_once_even_on_a_loop() -> None:
    stream = io.StringIO()
    handler = JsonLinesHandler(stream, "sample")
    written: list[list[str]] = []

    async def turn() -> None:
        handler.emit(_line("Shutting down"))
        written.append(_messages(stream))

    asyncio.run(turn())
    assert written == [["Shutting down"]]


class _BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("disk gone")


def test_a_line_that_cannot_be_written_does_not_take_the_caller_down(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = JsonLinesHandler(_BrokenStream(), "sample")
    handler.emit(_line("lost"))  # does not raise
    assert "Logging error" in capsys.readouterr().err


def test_access_lines_that_cannot_be_written_do_not_take_the_caller_down(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = JsonLinesHandler(_BrokenStream(), "sample")
    handler.write_lines(["{}"])  # does not raise
    assert "Logging error" in capsys.readouterr().err
