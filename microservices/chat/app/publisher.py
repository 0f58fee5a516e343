"""Store, then publish: every chat message is in history before any socket receives it.

Messages from every connection of this replica go through one queue. A single task takes
whatever has queued up, stores it in one transaction (group commit), then publishes each
message in the order it was received. A socket's reader only queues its message, so the next
frame of a fast sender never waits for the database; when the queue is full, readers wait
(back-pressure on senders, never on receivers). A batch that cannot be stored is not
published, and each of its senders gets an error frame, as with one message at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from app.brokers import Broker, BusUnavailable
from app.connection import Connection
from app.metrics import MESSAGES
from app.protocol import ChatMessage, error_frame, message_frame

logger = logging.getLogger("chat.publisher")

# How long shutdown waits for queued messages to be stored and published.
DRAIN_TIMEOUT_SECONDS = 10.0

# Stores a batch of messages in one transaction (``storage.save_messages`` on a database).
SaveMessages = Callable[[Sequence[ChatMessage]], Awaitable[None]]


class MessagePublisher:
    """Stores queued messages in batches and publishes each one once it is stored."""

    def __init__(
        self, save: SaveMessages, broker: Broker, *, max_batch: int = 256, max_pending: int = 4096
    ) -> None:
        self.save = save
        self.broker = broker
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._pending: deque[tuple[Connection, ChatMessage]] = deque()
        self._has_work = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Messages queued and not yet stored."""
        return len(self._pending)

    def start(self) -> None:
        """Start the task that stores and publishes."""
        self._task = asyncio.create_task(self._run(), name="chat-publisher")

    async def stop(self) -> None:
        """Store and publish what is queued (bounded in time), then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._has_work.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), DRAIN_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.warning("messages dropped at shutdown", extra={"pending": self.pending})
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def submit(self, sender: Connection, message: ChatMessage) -> None:
        """Queue a message; waits only while the queue is full."""
        while len(self._pending) >= self.max_pending:
            self._has_room.clear()
            await self._has_room.wait()
        self._pending.append((sender, message))
        self._has_work.set()

    async def flush(self) -> None:
        """Store and publish everything queued so far."""
        pending = self._pending
        while pending:
            batch = [pending.popleft() for _ in range(min(self.max_batch, len(pending)))]
            self._has_room.set()
            await self._store_and_publish(batch)

    async def _run(self) -> None:
        while True:
            await self._has_work.wait()
            self._has_work.clear()
            await self.flush()
            if self._stopping:
                return

    async def _store_and_publish(self, batch: list[tuple[Connection, ChatMessage]]) -> None:
        try:
            await self.save([message for _, message in batch])
        except Exception:  # SQLAlchemyError mostly; whatever it is, the task keeps going
            logger.exception("messages not stored", extra={"count": len(batch)})
            for sender, _ in batch:
                sender.offer(error_frame("The message could not be saved; try again"))
            return
        for sender, message in batch:
            try:
                await self.broker.publish(message.room, message_frame(message))
            except BusUnavailable:
                sender.offer(error_frame("The message was saved but not delivered live"))
                continue
            MESSAGES.inc()
            # Let the writers hand this message to their sockets before offering the next:
            # a whole batch offered at once would overflow outboxes of clients that read
            # just fine. When the server is short of CPU, messages wait here and then in
            # the senders' sockets (back-pressure) instead of clients being disconnected.
            await asyncio.sleep(0)
