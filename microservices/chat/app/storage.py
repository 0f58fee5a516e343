"""Message history: the only module that knows the chat service's tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from app.protocol import ChatMessage
from servicekit.db import Database

metadata = sa.MetaData()

messages = sa.Table(
    "messages",
    metadata,
    # Insertion order; history pages by it (timestamps from several replicas can tie).
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("room", sa.String(64), nullable=False),
    sa.Column("user_id", sa.Text(), nullable=True),
    sa.Column("phone_number", sa.Text(), nullable=False),
    sa.Column("avatar", sa.Text(), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_messages_room_seq", "room", "seq"),
)


class MessageNotFound(LookupError):
    """The ``before`` cursor names no message of that room."""


async def save_message(db: Database, message: ChatMessage) -> None:
    """Store one message."""
    await save_messages(db, [message])


async def save_messages(db: Database, batch: Sequence[ChatMessage]) -> None:
    """Store messages in one transaction: all of them, or none on error."""
    if not batch:
        return
    rows = [
        {
            "id": message.id,
            "room": message.room,
            "user_id": message.user_id,
            "phone_number": message.phone_number,
            "avatar": message.avatar,
            "message": message.message,
            "sent_at": message.sent_at,
        }
        for message in batch
    ]
    async with db.transaction() as conn:
        await conn.execute(messages.insert(), rows)


async def recent_messages(
    db: Database, room: str, *, limit: int, before: str | None = None
) -> tuple[list[ChatMessage], bool]:
    """Up to ``limit`` messages of a room, oldest first, older than message ``before``.

    Returns the page and whether older messages exist.
    """
    async with db.read() as conn:
        query = sa.select(messages).where(messages.c.room == room)
        if before is not None:
            cursor = await conn.scalar(
                sa.select(messages.c.seq).where(messages.c.id == before, messages.c.room == room)
            )
            if cursor is None:
                raise MessageNotFound(before)
            query = query.where(messages.c.seq < cursor)
        rows = (await conn.execute(query.order_by(messages.c.seq.desc()).limit(limit + 1))).all()
    page = [_to_message(row) for row in rows[:limit]]
    page.reverse()
    return page, len(rows) > limit


def _to_message(row: sa.Row[tuple[object, ...]]) -> ChatMessage:
    sent_at: datetime = row.sent_at
    # SQLite hands back naive datetimes; everything we store is UTC.
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    return ChatMessage(
        id=row.id,
        room=row.room,
        message=row.message,
        phone_number=row.phone_number,
        avatar=row.avatar,
        user_id=row.user_id,
        sent_at=sent_at.astimezone(UTC),
    )
