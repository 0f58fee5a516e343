"""Receiving a multipart upload as a stream: the file part goes straight to a spool file.

The body is parsed as it arrives (python-multipart's streaming parser). File bytes are
collected into ~1 MiB batches that a worker thread appends to the spool file and feeds to
SHA-256 while the next batch arrives, so the event loop never blocks on the disk and memory
stays flat (two batches) whatever the size.
The size limit is enforced while streaming; an upload over it leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import time
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import anyio.to_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from servicekit.errors import ClientError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks
from app.sniffing import SNIFF_BYTES

FILE_FIELD = "file"
# Fields we read besides the file; anything else is accepted and ignored.
TEXT_FIELDS = frozenset({"file_tags", "bucket_name"})
MAX_FIELD_BYTES = 4096
MAX_PARTS = 16
MAX_FILE_NAME_CHARS = 255
# Form fields and part headers that may travel with a file of the maximum size.
FORM_OVERHEAD_BYTES = 64 * 1024
# Bytes handed to the worker thread at a time: big enough that thread hops are rare.
WRITE_BATCH_BYTES = 1024 * 1024


class UploadError(ClientError):
    """The request is not an acceptable upload."""


class UploadTooLarge(UploadError):
    """The file is over the size limit."""

    status_code = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"File too large: the limit is {limit} bytes")


@dataclass
class ReceivedUpload:
    """An upload received into a local spool file, not yet stored anywhere."""

    path: Path
    file_name: str
    size: int
    sha256: str
    head: bytes
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        """Remove the spool file (idempotent)."""
        self.path.unlink(missing_ok=True)


def multipart_boundary(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` content type; 415/400 when there is none."""
    media_type, params = parse_options_header(content_type or "")
    if media_type != b"multipart/form-data":
        raise UploadError("Uploads must be sent as multipart/form-data", 415)
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise UploadError("The multipart/form-data content type needs a boundary", 400)
    return boundary


def display_name(raw: bytes) -> str:
    """A file name fit for display: decoded, NFC, no control characters, bounded length.

    It is never used as a path; ``../../etc/passwd`` stays a harmless label.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip()
    return text[:MAX_FILE_NAME_CHARS] or "file"


class _SpoolWriter:
    """Appends batches to the spool file and hashes them in a worker thread, write-behind.

    One batch is written while the next is being received, so the disk and the network work
    at the same time; at most two batches are in memory. Batches are written in order.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self._in_flight: asyncio.Future[None] | None = None

    def _write(self, batch: bytes | bytearray) -> None:
        self.handle.write(batch)
        self.digest.update(batch)

    async def submit(self, batch: bytes | bytearray) -> None:
        """Start writing ``batch`` once the previous batch is written."""
        await self.flush()
        # A plain executor future (not anyio.to_thread) so that we need not wait for it here.
        self._in_flight = asyncio.get_running_loop().run_in_executor(None, self._write, batch)

    async def flush(self) -> None:
        """Wait until every submitted batch is written."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    async def abandon(self) -> None:
        """Wait for a write still running (its error does not matter any more)."""
        with contextlib.suppress(Exception):
            await self.flush()


class _FormCollector:
    """The multipart parser's callbacks: routes each part's bytes to the file or a field."""

    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.pending = bytearray()
        self.head = bytearray()
        self.file_name: str | None = None
        self.file_size = 0
        self.too_large = False
        self.finished = False
        self.fields: dict[str, str] = {}
        self._parts = 0
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._current: str | None = None  # "file", a field name, or None (ignored part)
        self._field_value = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        }

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise UploadError(f"Too many form fields (at most {MAX_PARTS})", 422)
        self._disposition = b""
        self._current = None

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if bytes(self._header_field).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        name = params.get(b"name", b"").decode("latin-1")
        if name == FILE_FIELD:
            if self.file_name is not None:
                raise UploadError("Send one file per upload", 422)
            self.file_name = display_name(params.get(b"filename", b""))
            self._current = FILE_FIELD
        elif name in TEXT_FIELDS:
            self._current = name
            self._field_value.clear()

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current == FILE_FIELD:
            self.file_size += end - start
            if self.file_size > self.max_file_bytes:
                self.too_large = True
                self.pending.clear()
                return
            # Through a memoryview: the bytes are copied once, into the batch.
            self.pending += memoryview(data)[start:end]
            if len(self.head) < SNIFF_BYTES:
                self.head += data[start : min(end, start + SNIFF_BYTES - len(self.head))]
        elif self._current is not None:
            self._field_value += data[start:end]
            if len(self._field_value) > MAX_FIELD_BYTES:
                raise UploadError(f"Field {self._current!r} is too long", 422)

    def _on_part_end(self) -> None:
        if self._current is not None and self._current != FILE_FIELD:
            try:
                self.fields[self._current] = self._field_value.decode("utf-8")
            except UnicodeDecodeError:
                raise UploadError(f"Field {self._current!r} is not UTF-8", 422) from None
        self._current = None

    def _on_end(self) -> None:
        self.finished = True


async def receive_upload(
    body: AsyncIterator[bytes],
    *,
    content_type: str | None,
    content_length: int | None,
    spool_dir: Path,
    max_file_bytes: int,
) -> ReceivedUpload:
    """Stream a multipart body into a spool file in ``spool_dir``; the caller owns the result.

    Raises ``UploadError`` (and leaves no file) when the body is not a usable upload, and
    ``UploadTooLarge`` when the file is over ``max_file_bytes``.
    """
    boundary = multipart_boundary(content_type)
    if content_length is not None and content_length > max_file_bytes + FORM_OVERHEAD_BYTES:
        await _drain(body, budget=max_file_bytes)
        raise UploadTooLarge(max_file_bytes)

    collector = _FormCollector(max_file_bytes)
    parser = MultipartParser(boundary, collector.callbacks())
    path = await anyio.to_thread.run_sync(_new_spool_file, spool_dir)
    handle: BinaryIO | None = None
    writer: _SpoolWriter | None = None
    try:
        handle = await anyio.to_thread.run_sync(path.open, "wb")
        writer = _SpoolWriter(handle)
        async for chunk in body:
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise UploadError("Malformed multipart/form-data body", 400) from exc
            if collector.too_large:
                await _drain(body, budget=max_file_bytes)
                raise UploadTooLarge(max_file_bytes)
            if len(collector.pending) >= WRITE_BATCH_BYTES:
                batch, collector.pending = collector.pending, bytearray()
                await writer.submit(batch)
        if not collector.finished:
            raise UploadError("The multipart/form-data body ended early", 400)
        if collector.file_name is None:
            raise UploadError("The upload has no 'file' field", 422)
        if collector.file_size == 0:
            raise UploadError("The file is empty", 422)
        await writer.submit(collector.pending)
        await writer.flush()
        await anyio.to_thread.run_sync(_close_durably, handle)
        return ReceivedUpload(
            path=path,
            file_name=collector.file_name,
            size=collector.file_size,
            sha256=writer.digest.hexdigest(),
            head=bytes(collector.head),
            fields=collector.fields,
        )
    except BaseException:
        # Any failure, a client that went away included: nothing of the upload may remain.
        with anyio.CancelScope(shield=True):
            if writer is not None:
                await writer.abandon()
            await anyio.to_thread.run_sync(_remove, handle, path)
        raise


async def _drain(body: AsyncIterator[bytes], *, budget: int) -> None:
    """Read and drop up to ``budget`` more bytes, so the client gets to read our answer.

    Beyond the budget we stop reading and the server closes the connection after answering.
    """
    received = 0
    async for chunk in body:
        received += len(chunk)
        if received > budget:
            return


def _close_durably(handle: BinaryIO) -> None:
    # The upload is acknowledged once stored: its bytes must be on disk, not in the page cache.
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def _new_spool_file(spool_dir: Path) -> Path:
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=spool_dir, prefix="upload-", suffix=".part")
    os.close(fd)
    return Path(name)


def _remove(handle: BinaryIO | None, path: Path) -> None:
    if handle is not None:
        with contextlib.suppress(OSError):
            handle.close()
    path.unlink(missing_ok=True)


async def clear_spool(spool_dir: Path, *, older_than_seconds: float = 3600.0) -> None:
    """Remove uploads a previous run left half-received (a crash or a kill mid-upload).

    Only old ones: another replica sharing the directory may be receiving an upload now.
    """

    def clear() -> None:
        spool_dir.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - older_than_seconds
        for leftover in spool_dir.iterdir():
            with contextlib.suppress(OSError):
                if leftover.is_file() and leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    await anyio.to_thread.run_sync(clear)
