"""One client connection: a bounded outbox drained by the connection's own writer.

Fan-out only ever calls ``offer``, which never waits: a frame goes into the outbox or, when
the outbox is full, the connection is marked for closing as a slow consumer. The writer is
the only code that awaits the socket, so a client that stops reading stalls nobody else.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from enum import StrEnum

import anyio

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
        self._outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self._closing = asyncio.Event()

    @property
    def pending_frames(self) -> int:
        """Frames waiting in the outbox."""
        return self._outbox.qsize()

    def offer(self, frame: str) -> bool:
        """Queue a frame without waiting; on overflow, mark the client a slow consumer."""
        if self.close_reason is not None:
            return False
        try:
            self._outbox.put_nowait(frame)
        except asyncio.QueueFull:
            self.request_close(CloseReason.SLOW_CONSUMER)
            return False
        return True

    async def next_frame(self) -> str:
        """Wait for the next frame of the outbox (the writer's side of it)."""
        return await self._outbox.get()

    def request_close(self, reason: CloseReason) -> None:
        """Ask the connection's session to end; the first reason given is the one kept."""
        if self.close_reason is None:
            self.close_reason = reason
            self._closing.set()

    async def wait_closing(self) -> CloseReason:
        """Wait until a close has been requested and return its reason."""
        await self._closing.wait()
        assert self.close_reason is not None
        return self.close_reason

    async def run_writer(self, send_text: SendText) -> None:
        """Hand queued frames to the socket, one at a time, until a send stalls or fails."""
        while True:
            frame = await self.next_frame()
            with anyio.move_on_after(self.send_timeout) as deadline:
                try:
                    await send_text(frame)
                except Exception:  # the socket is gone; the reader sees why
                    self.request_close(CloseReason.DROPPED)
                    return
            if deadline.cancelled_caught:
                self.request_close(CloseReason.STALLED)
                return
