"""Work done once at the end of an event loop turn, however many times the turn asks for it."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable


class TurnEnd:
    """Calls ``callback`` at the end of the current loop turn, once per turn.

    ``ask()`` schedules the call on the loop running in this thread unless it already has
    it in its queue; with no loop running it returns False and the caller does the work
    itself. Whether the call is queued (``asked()``) is checked before
    ``asyncio.get_running_loop()``, which makes a ``getpid()`` system call on every call on
    Python 3.11 (its fork check): only a turn's first ask pays it. A loop that is running,
    and was running in this thread when it was asked, is the loop running in this thread: a
    thread runs one loop at a time. A loop that stopped before its next turn (a test's) is
    asked again by the next ask.
    """

    def __init__(self, callback: Callable[[], object], *, own_context: bool = False) -> None:
        self._callback = callback
        # The callback runs in a context of its own rather than in the asking task's.
        self._own_context = own_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0

    def asked(self) -> bool:
        """Whether the loop running in this thread has the call in its queue."""
        loop = self._loop
        return loop is not None and self._thread == threading.get_ident() and loop.is_running()

    def ask(self) -> bool:
        """Queue the call for this turn's end; False if no loop runs in this thread."""
        if self.asked():
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._loop = loop
        self._thread = threading.get_ident()
        context = contextvars.Context() if self._own_context else None
        loop.call_soon(self._run, context=context)
        return True

    def _run(self) -> None:
        self._loop = None
        self._callback()
