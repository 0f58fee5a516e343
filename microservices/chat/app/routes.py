"""HTTP and WebSocket routes: parse, authorize, call the chat, shape the answer."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, field_serializer

from app.brokers import BusUnavailable
from app.chat import ChatService
from app.identity import Refused, identify, token_from
from app.protocol import ROOM_NAME_PATTERN, ChatMessage, is_valid_room_name
from app.sessions import run_session
from app.storage import MessageNotFound

STATIC_DIR = Path(__file__).parent / "static"
# The page loads only its own script and style and talks only to its own origin.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: https:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

router = APIRouter()

RoomName = Annotated[
    str,
    PathParam(
        pattern=ROOM_NAME_PATTERN,
        max_length=64,
        description="1-64 letters, digits, '-' or '_'.",
    ),
]


class RoomInfo(BaseModel):
    """How many sockets are in a room right now (across replicas)."""

    room_name: str
    active_connections: int


class MessageOut(BaseModel):
    """One message of a room's history."""

    id: str
    room: str
    message: str
    phone_number: str
    avatar: str
    user_id: str | None
    authenticated: bool
    sent_at: datetime

    @field_serializer("sent_at")
    def _iso_with_offset(self, sent_at: datetime) -> str:
        # The same spelling as the live frames: "+00:00", not pydantic's "Z".
        return sent_at.isoformat()

    @classmethod
    def of(cls, message: ChatMessage) -> MessageOut:
        """The API shape of a stored message."""
        return cls.model_validate(message.as_dict())


class MessagePage(BaseModel):
    """A page of history, oldest first; ``has_more`` when older messages exist."""

    room_name: str
    messages: list[MessageOut]
    has_more: bool


def get_chat(request: Request) -> ChatService:
    """The app's chat service."""
    chat: ChatService = request.app.state.chat
    return chat


@router.get("/", include_in_schema=False)
async def chat_page() -> FileResponse:
    """The chat page (static HTML, script and style under ``static/``)."""
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type="text/html",
        headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"},
    )


@router.get(
    "/rooms/{room_name}/info",
    responses={503: {"description": "Presence store (Redis) unavailable"}},
)
async def room_info(room_name: RoomName, request: Request) -> RoomInfo:
    """Sockets connected to the room, on every replica."""
    try:
        presence = await get_chat(request).room_info(room_name)
    except BusUnavailable as exc:
        raise HTTPException(503, "Presence is unavailable; try again shortly") from exc
    return RoomInfo(room_name=room_name, active_connections=presence.active_connections)


@router.get(
    "/rooms/{room_name}/messages",
    responses={404: {"description": "`before` names no message of this room"}},
)
async def room_messages(
    room_name: RoomName,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many messages.")] = 50,
    before: Annotated[
        UUID | None, Query(description="Only messages older than this message id.")
    ] = None,
) -> MessagePage:
    """Recent history of a room, newest last."""
    try:
        messages, has_more = await get_chat(request).history(
            room_name, limit=limit, before=str(before) if before else None
        )
    except MessageNotFound as exc:
        raise HTTPException(404, "No such message in this room") from exc
    return MessagePage(
        room_name=room_name, messages=[MessageOut.of(m) for m in messages], has_more=has_more
    )


@router.websocket("/ws/{room_name}")
async def chat_socket(websocket: WebSocket, room_name: str) -> None:
    """Join a room: send ``{"message", "phone_number", "avatar"}``, receive every message.

    ``?token=`` (or ``Authorization: Bearer``) signs the client in; ``?presence=true`` adds
    ``welcome`` and ``presence`` frames. See the README for the whole protocol.
    """
    if not is_valid_room_name(room_name):
        await websocket.close(code=1008, reason="Invalid room name")
        return
    settings = websocket.app.state.settings
    try:
        identity = await identify(
            token_from(websocket.query_params, websocket.headers),
            websocket.app.state.token_verifier,
            allow_anonymous=settings.allow_anonymous,
        )
    except Refused as exc:
        await websocket.close(code=1008, reason=exc.reason)
        return
    chat: ChatService = websocket.app.state.chat
    wants_presence = websocket.query_params.get("presence", "").lower() in ("1", "true", "yes")
    connection = chat.open_connection(room_name, identity, wants_presence=wants_presence)
    await run_session(websocket, chat, connection)
