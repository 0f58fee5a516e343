"""One WebSocket from handshake to close: reader, writer and the close that ends them."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import anyio
from starlette.websockets import WebSocket, WebSocketState

from app.brokers import BusUnavailable
from app.chat import ChatService
from app.connection import CLOSE_CODES, CloseReason, Connection
from app.metrics import DISCONNECTS

logger = logging.getLogger("chat.sessions")

# How long a closing handshake may take before the socket is left to the server to drop.
CLOSE_TIMEOUT_SECONDS = 2.0
# Close codes a client sends when it leaves on purpose.
_CLIENT_CLOSE_CODES = frozenset({1000, 1001})


async def run_session(websocket: WebSocket, chat: ChatService, connection: Connection) -> None:
    """Join the room, accept, then pump frames both ways until either side ends it."""
    try:
        await chat.join(connection)
    except BusUnavailable:
        # Refuse the handshake: the client retries later, against a replica that works.
        await websocket.close(code=1011, reason="Chat backend unavailable")
        return
    try:
        await websocket.accept()
        logger.info(
            "connected",
            extra={
                "room": connection.room,
                "connection_id": connection.id,
                "authenticated": connection.identity.authenticated,
            },
        )
        await _pump(websocket, chat, connection)
    finally:
        # Leave even when the server cancels us (shutdown), or presence would linger.
        with anyio.CancelScope(shield=True):
            await chat.leave(connection)
    reason = connection.close_reason or CloseReason.DROPPED
    DISCONNECTS.labels(reason.value).inc()
    logger.info(
        "disconnected",
        extra={"room": connection.room, "connection_id": connection.id, "reason": reason.value},
    )
    code = CLOSE_CODES.get(reason)
    still_open = (
        websocket.application_state == WebSocketState.CONNECTED
        and websocket.client_state == WebSocketState.CONNECTED
    )
    if code is not None and still_open:
        # A stalled client may never take the close frame; the server drops it in the end.
        with anyio.move_on_after(CLOSE_TIMEOUT_SECONDS), contextlib.suppress(Exception):
            await websocket.close(code=code, reason=reason.value)


async def _pump(websocket: WebSocket, chat: ChatService, connection: Connection) -> None:
    """Read in this task and write in one other, until either side ends it.

    Two tasks per socket, not more: thousands of idle sockets are mostly their tasks. A close
    requested from elsewhere (the writer, fan-out, the pinger) interrupts the reader only
    while it waits for the client, never in the middle of handling a frame.
    """
    session = asyncio.current_task()
    assert session is not None
    reading = False
    interrupted = False

    def interrupt_reader() -> None:
        nonlocal interrupted
        if reading and not interrupted:
            interrupted = True
            session.cancel()

    def writer_ended(_task: asyncio.Task[None]) -> None:
        # Normally the writer has given its reason already; a crash counts as a drop.
        connection.request_close(CloseReason.DROPPED)

    connection.on_close = interrupt_reader
    writer = asyncio.create_task(connection.run_writer(websocket.send_text))
    writer.add_done_callback(writer_ended)
    try:
        guard = chat.flood_guard()
        while connection.close_reason is None:
            reading = True
            try:
                event = await websocket.receive()
            except asyncio.CancelledError:
                if not interrupted:
                    raise
                session.uncancel()  # our own interruption, not the server's
                break
            finally:
                reading = False
            if event["type"] == "websocket.disconnect":
                _client_left(connection, event.get("code", 1005))
                break
            await chat.receive(connection, guard, event.get("text"))
    finally:
        connection.on_close = None
        writer.remove_done_callback(writer_ended)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


def _client_left(connection: Connection, code: int) -> None:
    if code == 1012:
        connection.request_close(CloseReason.SHUTDOWN)
    elif code in _CLIENT_CLOSE_CODES:
        connection.request_close(CloseReason.CLIENT_CLOSED)
    else:
        connection.request_close(CloseReason.DROPPED)
