"""The chat itself: joining and leaving rooms, posting messages, presence and history.

Everything here works on ``Connection`` objects and strings; the WebSocket plumbing lives in
``sessions.py`` and HTTP in ``routes.py``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial

from app import storage
from app.brokers import Broker, BusUnavailable
from app.connection import CloseReason, Connection
from app.metrics import REJECTED_FRAMES
from app.protocol import (
    ChatInput,
    ChatMessage,
    Identity,
    InvalidFrame,
    Presence,
    compose_message,
    error_frame,
    parse_client_frame,
    ping_frame,
    presence_frame,
    welcome_frame,
)
from app.publisher import MessagePublisher
from app.ratelimit import FloodGuard
from servicekit.db import Database

logger = logging.getLogger("chat")


@dataclass(frozen=True, slots=True)
class ChatLimits:
    """The per-connection limits every connection gets."""

    max_message_length: int = 2000
    send_queue_size: int = 64
    send_timeout: float = 10.0
    rate_per_second: float = 5.0
    rate_burst: int = 10
    rate_strikes: int = 10
    ping_interval: float = 20.0


class ChatService:
    """Rooms, messages and presence on top of a database and a broker."""

    def __init__(self, db: Database, broker: Broker, limits: ChatLimits) -> None:
        self.db = db
        self.broker = broker
        self.limits = limits
        self.publisher = MessagePublisher(partial(storage.save_messages, db), broker)

    def start(self) -> None:
        """Start storing and publishing messages."""
        self.publisher.start()

    async def stop(self) -> None:
        """Store and publish the messages still queued, then stop."""
        await self.publisher.stop()

    def open_connection(
        self, room: str, identity: Identity, *, wants_presence: bool = False
    ) -> Connection:
        """A new connection with this service's limits (not yet in its room)."""
        connection = Connection(
            room,
            identity,
            queue_size=self.limits.send_queue_size,
            send_timeout=self.limits.send_timeout,
            wants_presence=wants_presence,
        )
        if wants_presence:
            connection.offer(
                welcome_frame(
                    room, connection.id, identity, ping_interval=self.limits.ping_interval
                )
            )
        return connection

    def flood_guard(self) -> FloodGuard:
        """A fresh rate limit for one connection."""
        limits = self.limits
        return FloodGuard(limits.rate_per_second, limits.rate_burst, limits.rate_strikes)

    async def join(self, connection: Connection) -> None:
        """Put the connection in its room and tell the room; raises BusUnavailable."""
        await self.broker.join(connection)
        await self._announce_presence(connection.room)

    async def leave(self, connection: Connection) -> None:
        """Take the connection out of its room and tell the room."""
        await self.broker.leave(connection)
        await self._announce_presence(connection.room)

    async def _announce_presence(self, room: str) -> None:
        try:
            presence = await self.broker.presence(room)
            await self.broker.publish(room, presence_frame(room, presence), presence=True)
        except BusUnavailable:
            logger.warning("presence update not published", extra={"room": room})

    async def receive(self, connection: Connection, guard: FloodGuard, text: str | None) -> None:
        """Handle one frame from a client: throttle, validate, then post.

        ``text`` is None for a binary frame. Problems go back to this client alone as error
        frames; a client that keeps flooding is marked for closing.
        """
        if not guard.admit():
            REJECTED_FRAMES.labels("rate_limited").inc()
            if guard.flooding:
                connection.request_close(CloseReason.FLOODING)
            else:
                connection.offer(error_frame("Too many messages; slow down"))
            return
        if text is None:
            REJECTED_FRAMES.labels("binary").inc()
            connection.offer(error_frame("Send JSON text frames, not binary ones"))
            return
        try:
            parsed = parse_client_frame(text, max_message_length=self.limits.max_message_length)
        except InvalidFrame as exc:
            REJECTED_FRAMES.labels(exc.reason).inc()
            connection.offer(error_frame(exc.detail))
            return
        if isinstance(parsed, ChatInput):
            await self.post(connection, parsed)

    async def post(self, connection: Connection, chat_input: ChatInput) -> ChatMessage:
        """Queue a message for the room: it is stored, then published (see ``publisher``)."""
        message = compose_message(connection.room, connection.identity, chat_input)
        await self.publisher.submit(connection, message)
        return message

    async def room_info(self, room: str) -> Presence:
        """Who is in a room (across replicas); raises BusUnavailable."""
        return await self.broker.presence(room)

    async def history(
        self, room: str, *, limit: int, before: str | None = None
    ) -> tuple[list[ChatMessage], bool]:
        """A page of a room's history, oldest first, and whether there is more before it."""
        return await storage.recent_messages(self.db, room, limit=limit, before=before)

    async def ping_forever(self) -> None:
        """Offer a ping frame to every connection of this replica, every ping interval.

        Pings keep proxies from closing idle sockets, and flow through each connection's
        outbox: a client that stopped reading stalls its writer and is dropped.
        """
        while True:
            await asyncio.sleep(self.limits.ping_interval)
            self.broker.rooms.broadcast_everywhere(ping_frame())
