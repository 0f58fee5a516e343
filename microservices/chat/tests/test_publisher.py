"""Store, then publish: history first, in order, batched, and paced so readers keep up."""

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from app.brokers import LocalBroker
from app.connection import CloseReason, Connection
from app.protocol import ChatMessage, Identity
from app.publisher import MessagePublisher


def _connection(room: str = "r", *, queue_size: int = 16) -> Connection:
    return Connection(room, Identity(), queue_size=queue_size, send_timeout=5)


def _message(n: int, room: str = "r") -> ChatMessage:
    return ChatMessage(
        id=f"id-{n}",
        room=room,
        message=f"m{n}",
        phone_number="123",
        avatar="",
        user_id=None,
        sent_at=datetime.now(UTC),
    )


class RecordingBroker(LocalBroker):
    """A local broker that remembers what was stored when each frame was published."""

    def __init__(self, stored: list[str]) -> None:
        super().__init__()
        self.stored = stored
        self.published: list[tuple[str, bool]] = []

    async def publish(self, room: str, frame: str, *, presence: bool = False) -> None:
        message_id = json.loads(frame)["id"]
        self.published.append((message_id, message_id in self.stored))
        await super().publish(room, frame, presence=presence)


def test_every_message_is_stored_before_it_is_published_and_order_is_kept() -> None:
    async def scenario() -> tuple[list[list[str]], list[tuple[str, bool]]]:
        stored: list[str] = []
        batches: list[list[str]] = []

        async def save(batch: Sequence[ChatMessage]) -> None:
            batches.append([m.id for m in batch])
            stored.extend(m.id for m in batch)

        broker = RecordingBroker(stored)
        publisher = MessagePublisher(save, broker, max_batch=3)
        sender = _connection()
        for n in range(7):
            await publisher.submit(sender, _message(n))
        await publisher.flush()
        return batches, broker.published

    batches, published = asyncio.run(scenario())
    # Queued messages are stored together, a batch at a time.
    assert batches == [["id-0", "id-1", "id-2"], ["id-3", "id-4", "id-5"], ["id-6"]]
    assert published == [(f"id-{n}", True) for n in range(7)]


def test_messages_that_cannot_be_stored_are_not_published_and_senders_are_told() -> None:
    async def scenario() -> tuple[list[tuple[str, bool]], list[str], list[str]]:
        async def broken_save(_batch: Sequence[ChatMessage]) -> None:
            raise OSError("disk gone")

        broker = RecordingBroker([])
        publisher = MessagePublisher(broken_save, broker)
        alice, bob = _connection(), _connection()
        await publisher.submit(alice, _message(1))
        await publisher.submit(bob, _message(2))
        await publisher.flush()
        frames = [[await c.next_frame() for _ in range(c.pending_frames)] for c in (alice, bob)]
        return broker.published, frames[0], frames[1]

    published, to_alice, to_bob = asyncio.run(scenario())
    assert published == []
    for frames in (to_alice, to_bob):
        assert [json.loads(f)["type"] for f in frames] == ["error"]


def test_a_burst_larger_than_an_outbox_reaches_readers_that_keep_up() -> None:
    async def scenario() -> tuple[list[str], CloseReason | None]:
        async def save(_batch: Sequence[ChatMessage]) -> None:
            return None

        broker = LocalBroker()
        reader = _connection(queue_size=4)
        await broker.join(reader)
        received: list[str] = []

        async def send(frame: str) -> None:
            received.append(json.loads(frame)["id"])

        writer = asyncio.create_task(reader.run_writer(send))
        publisher = MessagePublisher(save, broker)
        for n in range(50):  # all queued before the publisher runs: one batch of 50
            await publisher.submit(reader, _message(n))
        await publisher.flush()
        await asyncio.sleep(0)
        writer.cancel()
        return received, reader.close_reason

    received, close_reason = asyncio.run(scenario())
    assert close_reason is None, "a client that reads was cut off as a slow consumer"
    assert received == [f"id-{n}" for n in range(50)]


def test_a_full_queue_makes_senders_wait_until_it_drains() -> None:
    async def scenario() -> tuple[bool, list[tuple[str, bool]]]:
        stored: list[str] = []

        async def save(batch: Sequence[ChatMessage]) -> None:
            stored.extend(m.id for m in batch)

        broker = RecordingBroker(stored)
        publisher = MessagePublisher(save, broker, max_pending=2)
        sender = _connection()
        await publisher.submit(sender, _message(1))
        await publisher.submit(sender, _message(2))
        third = asyncio.create_task(publisher.submit(sender, _message(3)))
        await asyncio.sleep(0.05)
        waited = not third.done()
        await publisher.flush()
        await asyncio.wait_for(third, 5)
        await publisher.flush()
        return waited, broker.published

    waited, published = asyncio.run(scenario())
    assert waited
    assert published == [(f"id-{n}", True) for n in (1, 2, 3)]


def test_stopping_stores_and_publishes_what_is_still_queued() -> None:
    async def scenario() -> list[tuple[str, bool]]:
        stored: list[str] = []

        async def save(batch: Sequence[ChatMessage]) -> None:
            await asyncio.sleep(0.01)
            stored.extend(m.id for m in batch)

        broker = RecordingBroker(stored)
        publisher = MessagePublisher(save, broker)
        publisher.start()
        sender = _connection()
        for n in range(3):
            await publisher.submit(sender, _message(n))
        await publisher.stop()
        return broker.published

    assert asyncio.run(scenario()) == [(f"id-{n}", True) for n in range(3)]
