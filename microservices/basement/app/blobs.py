"""Where file bytes live: a small ``BlobStore`` interface and its local-directory backend.

Uploads are first received into a local spool file (see ``app.uploads``); once checked, the
spool file is handed to the store under a generated key. Keys and bucket names are validated
here too, so no caller can make the store touch a path of its choosing. Another backend (an
S3-compatible one) implements the same four methods and nothing above this module changes.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol

import anyio
import anyio.to_thread

# S3's rules: 3-63 characters of lowercase letters, digits, dots and hyphens, starting and
# ending with a letter or digit, no two adjacent dots, not shaped like an IP address.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
# Keys are ours (a UUID, optionally with a suffix): never a path separator, never a dot first.
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}(\.[A-Za-z0-9_-]{1,20})?$")

READ_CHUNK_BYTES = 256 * 1024


def is_valid_bucket_name(name: str) -> bool:
    """Whether ``name`` follows S3's bucket naming rules."""
    return (
        _BUCKET_NAME.match(name) is not None
        and ".." not in name
        and ".-" not in name
        and "-." not in name
        and _IP_ADDRESS.match(name) is None
    )


class BlobNotFound(Exception):
    """The store has nothing under that bucket and key."""


class BlobStore(Protocol):
    """Stores immutable blobs by bucket and key."""

    async def put_file(self, bucket: str, key: str, source: Path) -> None:
        """Take ownership of the local file ``source`` and store it under ``bucket``/``key``."""
        ...

    def read(
        self, bucket: str, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes ``start`` (inclusive) to ``end`` (exclusive; None for all) in chunks."""
        ...

    async def delete(self, bucket: str, key: str) -> None:
        """Remove a blob; removing one that is not there is not an error."""
        ...

    async def check(self) -> None:
        """Raise if the store cannot be used right now (readiness)."""
        ...


class LocalBlobStore:
    """Blobs as files: ``<root>/<bucket>/<key>``. Writes are atomic renames."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, bucket: str, key: str) -> Path:
        """The file of a blob; refuses anything that is not a valid bucket name and key."""
        if not is_valid_bucket_name(bucket):
            raise ValueError(f"invalid bucket name {bucket!r}")
        if _KEY.match(key) is None:
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / bucket / key

    async def put_file(self, bucket: str, key: str, source: Path) -> None:
        target = self.path_for(bucket, key)
        await anyio.to_thread.run_sync(_move_into_place, source, target)

    async def read(
        self, bucket: str, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self.path_for(bucket, key)
        try:
            handle: BinaryIO = await anyio.to_thread.run_sync(_open_at, path, start)
        except FileNotFoundError as exc:
            raise BlobNotFound(f"{bucket}/{key}") from exc
        try:
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                size = READ_CHUNK_BYTES if remaining is None else min(READ_CHUNK_BYTES, remaining)
                chunk = await anyio.to_thread.run_sync(handle.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def delete(self, bucket: str, key: str) -> None:
        path = self.path_for(bucket, key)
        await anyio.to_thread.run_sync(_unlink_if_present, path)

    async def check(self) -> None:
        await anyio.to_thread.run_sync(_check_writable, self.root)


def _move_into_place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Same file system (the default layout): an atomic rename, no bytes copied.
        os.replace(source, target)
    except OSError:
        # A storage dir on another file system: copy beside the target, then rename.
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(source, partial)
        os.replace(partial, target)
        source.unlink(missing_ok=True)
    # Make the rename itself durable before the upload is acknowledged.
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _open_at(path: Path, start: int) -> BinaryIO:
    handle = path.open("rb")
    if start:
        handle.seek(start)
    return handle


def _unlink_if_present(path: Path) -> None:
    path.unlink(missing_ok=True)


def _check_writable(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if not os.access(root, os.W_OK | os.X_OK):
        raise PermissionError(f"{root} is not writable")
