"""One client connection: a bounded outbox drained by the connection's own writer.

Fan-out only ever calls ``offer``, which never waits: a frame goes into the outbox or, when
the outbox is full, the connection is marked for closing as a slow consumer. The writer is
the only code that awaits the socket, so a client that stops reading stalls nobody else.

Fan-out runs once per frame per receiver, so this module avoids per-frame allocations: the
outbox is a plain deque, the writer drains every queued frame per wake-up, and the send
timeout is one lazily re-armed timer per connection rather than a cancel scope per frame.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from enum import StrEnum

from app.protocol import Identity


class CloseReason(StrEnum):
    """Why a connection ended (the ``reason`` label of ``chat_disconnects_total``)."""

    CLIENT_CLOSED = "client_closed"  # the client sent a close frame
    DROPPED = "dropped"  # the connection was lost without a close (dead peer, ping timeout)
    SLOW_CONSUMER = "slow_consumer"  # its outbox overflowed
    STALLED = "stalled"  # one frame could not be handed over within the send timeout
    FLOODING = "flooding"  # kept sending over its rate limit
    SHUTDOWN = "shutdown"  # the server is stopping


# The close code the server sends for the reasons it initiates itself.
CLOSE_CODES: dict[CloseReason, int] = {
    CloseReason.SLOW_CONSUMER: 1013,  # try again later
    CloseReason.STALLED: 1013,
    CloseReason.FLOODING: 1008,  # policy violation
    CloseReason.SHUTDOWN: 1001,  # going away
}

SendText = Callable[[str], Awaitable[None]]


class Connection:
    """A client in a room, with its outbox and the reason it closed (once it has)."""

    # Thousands of these live at once: no per-instance __dict__.
    __slots__ = (
        "_closing",
        "_frames_ready",
        "_outbox",
        "_queue_size",
        "_sending_since",
        "_stall_timer",
        "_stalled",
        "_writer",
        "close_reason",
        "id",
        "identity",
        "on_close",
        "room",
        "send_timeout",
        "wants_presence",
    )

    def __init__(
        self,
        room: str,
        identity: Identity,
        *,
        queue_size: int,
        send_timeout: float,
        wants_presence: bool = False,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.room = room
        self.identity = identity
        self.send_timeout = send_timeout
        self.wants_presence = wants_presence
        self.close_reason: CloseReason | None = None
        # Called once when a close is requested (the session uses it to stop its reader).
        self.on_close: Callable[[], None] | None = None
        self._queue_size = queue_size
        self._outbox: deque[str] = deque()
        # Futures are created only while someone waits: an idle socket holds none.
        self._frames_ready: asyncio.Future[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[object] | None = None
        self._sending_since: float | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._stalled = False

    @property
    def pending_frames(self) -> int:
        """Frames waiting in the outbox."""
        return len(self._outbox)

    def offer(self, frame: str) -> bool:
        """Queue a frame without waiting; on overflow, mark the client a slow consumer."""
        if self.close_reason is not None:
            return False
        if len(self._outbox) >= self._queue_size:
            self.request_close(CloseReason.SLOW_CONSUMER)
            return False
        self._outbox.append(frame)
        ready = self._frames_ready
        if ready is not None and not ready.done():
            ready.set_result(None)
        return True

    async def next_frame(self) -> str:
        """Wait for the next frame of the outbox (the writer's side of it)."""
        while not self._outbox:
            await self._wait_for_frames()
        return self._outbox.popleft()

    async def _wait_for_frames(self) -> None:
        self._frames_ready = asyncio.get_running_loop().create_future()
        try:
            await self._frames_ready
        finally:
            self._frames_ready = None

    def request_close(self, reason: CloseReason) -> None:
        """Ask the connection's session to end; the first reason given is the one kept."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        if self._closing is not None and not self._closing.done():
            self._closing.set_result(None)
        if self.on_close is not None:
            self.on_close()

    async def wait_closing(self) -> CloseReason:
        """Wait until a close has been requested and return its reason."""
        if self.close_reason is None:
            if self._closing is None:
                self._closing = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._closing)
        assert self.close_reason is not None
        return self.close_reason

    async def run_writer(self, send_text: SendText) -> None:
        """Hand queued frames to the socket, in order, until a send stalls or fails.

        A send that has not completed ``send_timeout`` seconds after it started closes the
        connection as stalled. One timer per connection checks that; it is armed by the
        first send and re-armed only while sends keep going, so frames cost no timer each.
        """
        loop = asyncio.get_running_loop()
        self._writer = asyncio.current_task()
        outbox = self._outbox
        try:
            while True:
                if not outbox:
                    await self._wait_for_frames()
                    continue
                frame = outbox.popleft()
                self._sending_since = loop.time()
                if self._stall_timer is None:
                    self._stall_timer = loop.call_at(
                        self._sending_since + self.send_timeout, self._check_stall
                    )
                try:
                    await send_text(frame)
                except asyncio.CancelledError:
                    if not self._stalled:
                        raise
                    # Our own timer cancelled the send: swallow that cancellation only.
                    if self._writer is not None:
                        self._writer.uncancel()
                    self.request_close(CloseReason.STALLED)
                    return
                except Exception:  # the socket is gone; the reader sees why
                    self.request_close(CloseReason.DROPPED)
                    return
                self._sending_since = None
        finally:
            self._sending_since = None
            if self._stall_timer is not None:
                self._stall_timer.cancel()
                self._stall_timer = None
            self._writer = None

    def _check_stall(self) -> None:
        """The stall timer fired: cancel a send that is overdue, or re-arm for the current one."""
        self._stall_timer = None
        started = self._sending_since
        if started is None or self._writer is None:
            return  # idle: the next send arms the timer again
        loop = asyncio.get_running_loop()
        deadline = started + self.send_timeout
        if loop.time() >= deadline:
            self._stalled = True
            self._writer.cancel()
        else:
            self._stall_timer = loop.call_at(deadline, self._check_stall)
