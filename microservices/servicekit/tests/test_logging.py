"""JSON log lines: one object per line, UTC timestamps, the request id, the extra fields."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
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


def _access_line(handler: JsonLinesHandler, message: str) -> None:
    handler.write_line(handler.formatter.format(_line(message)))


def test_access_lines_of_a_loop_turn_are_written_together_at_its_end() -> None:
    stream = io.StringIO()
    handler = JsonLinesHandler(stream, "sample")
    seen_during_the_turn: list[list[str]] = []

    async def one_turn() -> None:
        _access_line(handler, "first")
        _access_line(handler, "second")
        seen_during_the_turn.append(_messages(stream))
        await asyncio.sleep(0)  # the loop's next turn

    asyncio.run(one_turn())
    assert seen_during_the_turn == [[]]
    assert _messages(stream) == ["first", "second"]


def test_a_record_is_written_at_once_after_the_access_lines_held_before_it() -> None:
    stream = io.StringIO()
    handler = JsonLinesHandler(stream, "sample")
    written: list[list[str]] = []

    async def turn() -> None:
        _access_line(handler, "request")
        handler.emit(_line("Shutting down"))
        written.append(_messages(stream))

    asyncio.run(turn())
    assert written == [["request", "Shutting down"]]


def test_an_access_line_written_off_the_loop_is_written_at_once() -> None:
    stream = io.StringIO()
    handler = JsonLinesHandler(stream, "sample")
    _access_line(handler, "from a thread without a loop")
    assert _messages(stream) == ["from a thread without a loop"]


def test_held_lines_are_not_stranded_by_a_loop_that_never_ran_its_turn_again() -> None:
    stream = io.StringIO()
    handler = JsonLinesHandler(stream, "sample")
    stopped = asyncio.new_event_loop()

    async def log(message: str) -> None:
        _access_line(handler, message)

    async def log_then_yield(message: str) -> None:
        _access_line(handler, message)
        await asyncio.sleep(0)

    try:
        # The loop stops right after the line is held: its flush never runs.
        stopped.run_until_complete(log("from a loop that stopped"))
    finally:
        stopped.close()
    asyncio.run(log_then_yield("from the next loop"))
    assert _messages(stream) == ["from a loop that stopped", "from the next loop"]


def test_a_line_is_written_at_its_own_loops_turn_end_while_another_threads_loop_is_busy() -> None:
    stream = io.StringIO()
    handler = JsonLinesHandler(stream, "sample")
    line_held, release = threading.Event(), threading.Event()

    async def hold_the_loop() -> None:
        _access_line(handler, "from a busy loop")
        line_held.set()
        release.wait(timeout=10)  # blocks its loop's turn: its flush cannot run

    busy = threading.Thread(target=asyncio.run, args=(hold_the_loop(),))
    busy.start()
    try:
        assert line_held.wait(timeout=10)

        async def log_then_yield() -> None:
            _access_line(handler, "from this thread's loop")
            await asyncio.sleep(0)

        asyncio.run(log_then_yield())
        assert _messages(stream) == ["from a busy loop", "from this thread's loop"]
    finally:
        release.set()
        busy.join(timeout=10)


def test_a_line_that_cannot_be_written_does_not_take_the_caller_down(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class BrokenStream(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk gone")

    handler = JsonLinesHandler(BrokenStream(), "sample")
    handler.emit(_line("lost"))  # does not raise
    assert "Logging error" in capsys.readouterr().err
