"""The basement's records: stored files and categories, as plain immutable values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


def utc_now() -> str:
    """The current time as fixed-width ISO 8601 UTC text (sorts chronologically everywhere)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """Bytes in the blob store, with what serving them needs."""

    bucket: str
    key: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A stored file: its metadata, its bytes and (for images and SVG) its thumbnail."""

    file_id: str
    file_name: str
    bucket_name: str
    content_type: str
    size: int
    sha256: str
    width: int | None
    height: int | None
    file_tags: str | None
    uploader_id: str
    thumbnail: StoredBlob | None
    created_at: str

    @property
    def content(self) -> StoredBlob:
        """The original bytes."""
        return StoredBlob(
            bucket=self.bucket_name,
            key=self.file_id,
            content_type=self.content_type,
            size=self.size,
            sha256=self.sha256,
        )


@dataclass(frozen=True, slots=True)
class CategoryRecord:
    """A node of the category tree; ``first_file_id`` is its first attached file, if any."""

    category_id: str
    title: str
    slug: str
    level: int
    parent_id: str | None
    file_tags: str | None
    first_file_id: str | None
    created_at: str
