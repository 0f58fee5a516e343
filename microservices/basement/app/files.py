"""Stored files: turning a received upload into a stored file, finding and deleting files.

Storing is all-or-nothing: the bytes go to the blob store first and the metadata row last;
if anything fails on the way, every blob already written and every spool file is removed.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
import anyio.to_thread

from app import storage
from app.blobs import BlobStore, is_valid_bucket_name
from app.model import FileRecord, StoredBlob, utc_now
from app.sniffing import RASTER_IMAGE_TYPES, SVG, detect_content_type
from app.thumbnails import ImageRejected, ImageResult, make_thumbnail
from app.uploads import ReceivedUpload
from servicekit.auth import Principal
from servicekit.db import Database
from servicekit.errors import Forbidden, NotFound, Unprocessable

THUMBNAIL_SUFFIX = ".thumbnail"


@dataclass(frozen=True, slots=True)
class ThumbnailPolicy:
    """How thumbnails are made: box size, pixel limit, and how many at once."""

    box: int
    max_pixels: int
    limiter: anyio.CapacityLimiter


class FileLibrary:
    """The basement's files: metadata in the database, bytes in a blob store."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        spool_dir: Path,
        default_bucket: str,
        thumbnails: ThumbnailPolicy,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.spool_dir = spool_dir
        self.default_bucket = default_bucket
        self.thumbnails = thumbnails

    async def store(self, upload: ReceivedUpload, uploader: Principal) -> FileRecord:
        """Store a received upload: detect its type, thumbnail images, save bytes and metadata.

        Takes ownership of the spool file. Raises ``Unprocessable`` for a bad bucket name or
        an image that is too large or does not decode; nothing is stored then.
        """
        stored: list[tuple[str, str]] = []
        thumbnail_path: Path | None = None
        try:
            bucket = upload.fields.get("bucket_name", "").strip() or self.default_bucket
            if not is_valid_bucket_name(bucket):
                raise Unprocessable(
                    "bucket_name must be 3-63 lowercase letters, digits, dots or hyphens, "
                    "starting and ending with a letter or digit"
                )
            file_id = str(uuid.uuid4())
            content_type = detect_content_type(upload.head)
            image: ImageResult | None = None
            if content_type in RASTER_IMAGE_TYPES:
                thumbnail_path = self.spool_dir / f"{file_id}{THUMBNAIL_SUFFIX}"
                image = await self._make_thumbnail(upload.path, thumbnail_path)

            await self.blobs.put_file(bucket, file_id, upload.path)
            stored.append((bucket, file_id))
            thumbnail: StoredBlob | None = None
            if image is not None and thumbnail_path is not None:
                key = f"{file_id}{THUMBNAIL_SUFFIX}"
                await self.blobs.put_file(bucket, key, thumbnail_path)
                stored.append((bucket, key))
                made = image.thumbnail
                thumbnail = StoredBlob(bucket, key, made.content_type, made.size, made.sha256)
            elif content_type == SVG:
                # Vector images scale themselves: the original is its own thumbnail.
                thumbnail = StoredBlob(bucket, file_id, SVG, upload.size, upload.sha256)

            record = FileRecord(
                file_id=file_id,
                file_name=upload.file_name,
                bucket_name=bucket,
                content_type=content_type,
                size=upload.size,
                sha256=upload.sha256,
                width=image.width if image else None,
                height=image.height if image else None,
                file_tags=upload.fields.get("file_tags", "").strip() or None,
                uploader_id=uploader.user_id,
                thumbnail=thumbnail,
                created_at=utc_now(),
            )
            async with self.db.transaction() as conn:
                await storage.insert_file(conn, record)
            return record
        except BaseException:
            with anyio.CancelScope(shield=True):
                for bucket_name, key in stored:
                    await self.blobs.delete(bucket_name, key)
            raise
        finally:
            upload.discard()
            if thumbnail_path is not None:
                with contextlib.suppress(OSError):
                    thumbnail_path.unlink(missing_ok=True)

    async def _make_thumbnail(self, source: Path, target: Path) -> ImageResult:
        work = partial(
            make_thumbnail,
            source,
            target,
            box=self.thumbnails.box,
            max_pixels=self.thumbnails.max_pixels,
        )
        try:
            return await anyio.to_thread.run_sync(work, limiter=self.thumbnails.limiter)
        except ImageRejected as exc:
            raise Unprocessable(exc.detail) from exc

    async def get(self, file_id: str) -> FileRecord:
        """A file's metadata; ``NotFound`` if there is no such file."""
        async with self.db.read() as conn:
            record = await storage.get_file(conn, file_id)
        if record is None:
            raise NotFound("File not found")
        return record

    async def delete(self, file_id: str, caller: Principal) -> None:
        """Delete a file (metadata first, then bytes); only its uploader or an admin may."""
        async with self.db.transaction() as conn:
            record = await storage.get_file(conn, file_id)
            if record is None:
                raise NotFound("File not found")
            if record.uploader_id != caller.user_id and not caller.is_admin:
                raise Forbidden("Only the uploader or an admin may delete this file")
            await storage.delete_file(conn, file_id)
        # After the commit: a crash here leaves unreferenced bytes, never a dangling record.
        keys = {record.file_id} | ({record.thumbnail.key} if record.thumbnail else set())
        for key in keys:
            await self.blobs.delete(record.bucket_name, key)
