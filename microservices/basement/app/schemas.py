"""Request and response bodies of the basement's API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.categories import CategoryNode
from app.model import CategoryRecord, FileRecord

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Tags = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4096)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def file_url(root_path: str, file_id: str) -> str:
    """Where a file's bytes are fetched: through the gateway when behind it."""
    return f"{root_path}/files/{file_id}/content"


def thumbnail_url(root_path: str, file_id: str) -> str:
    """Where a file's thumbnail is fetched."""
    return f"{root_path}/files/{file_id}/thumbnail"


class FileOut(BaseModel):
    """A stored file. URLs are relative to the gateway (``/basement/files/...``)."""

    file_id: str
    file_name: str
    file_url: str
    thumbnail_url: str | None
    file_tags: str | None
    bucket_name: str
    content_type: str = Field(description="Detected from the bytes, not from name or header.")
    size: int
    sha256: str
    width: int | None
    height: int | None
    uploader_id: str
    created_at: str

    @classmethod
    def of(cls, record: FileRecord, root_path: str) -> FileOut:
        """The answer for ``record``, with URLs under ``root_path``."""
        return cls(
            file_id=record.file_id,
            file_name=record.file_name,
            file_url=file_url(root_path, record.file_id),
            thumbnail_url=thumbnail_url(root_path, record.file_id) if record.thumbnail else None,
            file_tags=record.file_tags,
            bucket_name=record.bucket_name,
            content_type=record.content_type,
            size=record.size,
            sha256=record.sha256,
            width=record.width,
            height=record.height,
            uploader_id=record.uploader_id,
            created_at=record.created_at,
        )


class CategoryCreate(BaseModel):
    """A new category; without ``parent_id`` it is a root."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    parent_id: Id | None = None
    file_tags: Tags | None = None


class CategoryUpdate(BaseModel):
    """Fields to change; ``parent_id: null`` makes the category a root."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    parent_id: Id | None = None
    file_tags: Tags | None = None


class AttachFile(BaseModel):
    """A stored file to attach to a category."""

    model_config = ConfigDict(extra="forbid")

    file_id: Id


class CategoryOut(BaseModel):
    """A category; ``file_url`` is its first attached file's URL, or null."""

    category_id: str
    title: str
    slug: str
    level: int
    parent_id: str | None
    file_url: str | None
    file_tags: str | None
    created_at: str

    @classmethod
    def of(cls, record: CategoryRecord, root_path: str) -> CategoryOut:
        """The answer for ``record``, with its file URL under ``root_path``."""
        return cls(
            category_id=record.category_id,
            title=record.title,
            slug=record.slug,
            level=record.level,
            parent_id=record.parent_id,
            file_url=file_url(root_path, record.first_file_id) if record.first_file_id else None,
            file_tags=record.file_tags,
            created_at=record.created_at,
        )


class CategoryTreeOut(CategoryOut):
    """A category with its children, recursively."""

    children: list[CategoryTreeOut]

    @classmethod
    def of_node(cls, node: CategoryNode, root_path: str) -> CategoryTreeOut:
        """The nested answer for ``node``."""
        flat = CategoryOut.of(node.category, root_path)
        return cls(
            **flat.model_dump(),
            children=[cls.of_node(child, root_path) for child in node.children],
        )
