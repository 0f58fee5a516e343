"""JSON logs, one object per line, each carrying the current request id."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import orjson

request_id_var: ContextVar[str] = ContextVar("request_id", default="")

# (time, method, path, route, status, duration in ms, request id) of one answered request.
AccessEntry = tuple[float, str, str, str, int, float, str]

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


# The end of a timestamp for each millisecond: a lookup instead of formatting a number.
_MILLISECOND_SUFFIXES = tuple(f".{ms:03d}+00:00" for ms in range(1000))

# The stdlib's encoder only for what orjson refuses (non-string keys, integers past 64 bits).
_encode_leniently = json.JSONEncoder(default=str, ensure_ascii=False).encode


def _encode(entry: dict[str, Any]) -> str:
    """One log line: orjson (a tenth of the stdlib's time per line) with ``str()`` for what
    JSON has no type for, and the stdlib for the rest, so that no record is ever lost."""
    try:
        return orjson.dumps(entry, default=str).decode()
    except TypeError:
        return _encode_leniently(entry)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object with the service name and request id."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        # The timestamp's seconds change once a second; a race here only recomputes them.
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRS and not key.startswith("_")
        }
        if record.exc_info:
            fields["exc_info"] = self.formatException(record.exc_info)
        return self.line(record.created, record.levelname, record.name, record.getMessage(), fields)

    def line(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        fields: dict[str, Any],
        request_id: str | None = None,
    ) -> str:
        """The JSON object of one log entry: the fixed keys first, then ``fields``.

        ``request_id`` is the current request's unless given.
        """
        entry: dict[str, Any] = {
            "time": self._timestamp(created),
            "level": level,
            "service": self.service,
            "logger": logger,
            "message": message,
        }
        if request_id is None:
            request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(fields)
        return _encode(entry)

    def _timestamp(self, created: float) -> str:
        """ISO 8601 in UTC with milliseconds, e.g. ``2026-12-01T10:00:00.123+00:00``."""
        second = int(created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return self._second_text + _MILLISECOND_SUFFIXES[int((created - second) * 1000)]


class JsonLinesHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure_logging`` installs: JSON lines on a stream.

    Records that come through ``logging`` (start-up and shut-down, warnings, a service's own
    lines) are written at once. Access lines come in batches (``write_lines``), a loop
    turn's at a time (``servicekit.observability.FinishedRequests``): under load a turn
    serves many requests, and a ``write`` per line cost a small GET more than its line
    (bench/README.md, read path). So a record logged during a turn can come before the lines
    of requests that turn finished earlier; each line's ``time`` says when. Only a process
    killed outright can lose lines: the access lines of the turn it was killed in.
    """

    formatter: JsonFormatter

    def __init__(self, stream: Any, service: str) -> None:
        super().__init__(stream)
        self.setFormatter(JsonFormatter(service))

    def write_lines(self, lines: list[str]) -> None:
        """Write formatted lines with one ``write``, then flush the stream."""
        with self.lock:  # type: ignore[union-attr]
            try:
                self.stream.write(self.terminator.join(lines) + self.terminator)
            except Exception:
                # As ``emit`` does for a line it cannot write: report on stderr, go on.
                self.handleError(_UNWRITTEN)
            self.flush()


_UNWRITTEN = logging.makeLogRecord({"msg": "access log lines could not be written"})


class AccessLog:
    """Writes the one line per request, on the ``servicekit.access`` logger.

    When logging is as ``configure_logging`` left it (its handler alone on the root logger),
    the line is laid out by that handler's formatter and handed straight to it: making a
    ``LogRecord`` and passing it down the logger and handler chain took a small GET a fifth
    of its CPU (bench/README.md, read path). Any other set-up (a test's capture
    handler, a handler or filter added later) gets an ordinary record through ``logging``, so
    no handler or filter is ever bypassed. Either way the logger's level decides.
    """

    def __init__(self, name: str = "servicekit.access") -> None:
        self._logger = logging.getLogger(name)

    def requests(self, entries: Iterable[AccessEntry]) -> None:
        """Log answered requests, each with the time it was answered and its request id.

        Straight to the service's handler, the lines are written now, together; through
        ``logging``, a record carries the time it was made.
        """
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handler = self._sole_handler()
        lines: list[str] = []
        for created, method, path, route, status, duration_ms, request_id in entries:
            fields: dict[str, Any] = {
                "method": method,
                "path": path,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
            }
            if handler is None:
                logger.info("request", extra={"request_id": request_id, **fields})
            else:
                lines.append(
                    handler.formatter.line(
                        created, "INFO", logger.name, "request", fields, request_id
                    )
                )
        if handler is not None and lines:
            handler.write_lines(lines)

    def writes_directly(self) -> bool:
        """Whether a line goes straight to the service's handler (no record, no filter)."""
        return self._sole_handler() is not None

    def _sole_handler(self) -> JsonLinesHandler | None:
        """The handler a record would reach, if it is ours and nothing else could see it."""
        logger: logging.Logger | None = self._logger
        if self._logger.filters:
            return None
        while logger is not None:
            handlers = logger.handlers
            if logger.parent is None or not logger.propagate:
                if len(handlers) == 1 and isinstance(handlers[0], JsonLinesHandler):
                    handler = handlers[0]
                    if not handler.filters and handler.level <= logging.INFO:
                        return handler
                return None
            if handlers:
                return None
            logger = logger.parent
        return None


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record, uvicorn's included, to stdout as JSON lines."""
    # The lines never show threads, processes or source locations: skip collecting them
    # (the logging HOWTO's "Optimization" switches), a third of a record's cost.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    handler = JsonLinesHandler(sys.stdout, service)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn installs its own handlers before importing the app; route them through ours.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Its access log is replaced by our request log line. uvicorn builds each access message
    # (client address, quoted path) whenever ``uvicorn.access`` has a handler anywhere up its
    # chain, before the level is even checked (3% of a resume GET's instructions, through
    # the root handler). Without a handler of its own and without propagation, it has none.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    # httpx logs every request it sends at INFO, on top of its caller's own line about what
    # the request was for (the payments relay's "event delivered"): shown at DEBUG only.
    logging.getLogger("httpx").setLevel(
        logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING
    )
