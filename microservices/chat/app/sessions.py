"""One WebSocket from handshake to close: reader, writer and the close that ends them."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

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
    """Run writer and reader until one of them ends or a close is requested."""
    async with anyio.create_task_group() as tasks:

        def first_to_finish_ends_all(work: Callable[[], Awaitable[object]]) -> None:
            async def run() -> None:
                await work()
                tasks.cancel_scope.cancel()

            tasks.start_soon(run)

        first_to_finish_ends_all(lambda: connection.run_writer(websocket.send_text))
        first_to_finish_ends_all(lambda: _read(websocket, chat, connection))
        first_to_finish_ends_all(connection.wait_closing)


async def _read(websocket: WebSocket, chat: ChatService, connection: Connection) -> None:
    guard = chat.flood_guard()
    while connection.close_reason is None:
        event = await websocket.receive()
        if event["type"] == "websocket.disconnect":
            code = event.get("code", 1005)
            if code == 1012:
                connection.request_close(CloseReason.SHUTDOWN)
            elif code in _CLIENT_CLOSE_CODES:
                connection.request_close(CloseReason.CLIENT_CLOSED)
            else:
                connection.request_close(CloseReason.DROPPED)
            return
        await chat.receive(connection, guard, event.get("text"))
