"""File routes: upload (streamed), metadata, content, thumbnail, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from app.dependencies import Blobs, Library, RootPath, SettingsDep
from app.schemas import FileOut
from app.serving import blob_response
from app.uploads import receive_upload
from servicekit.auth import CurrentUser
from servicekit.errors import NotFound

router = APIRouter(tags=["files"])

# The body is parsed as a stream by the route itself, so FastAPI cannot infer this schema.
UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "file_tags": {"type": "string", "maxLength": 4096},
                        "bucket_name": {
                            "type": "string",
                            "default": "chat-bucket",
                            "description": "S3-style bucket name (3-63 of a-z 0-9 . -).",
                        },
                    },
                }
            }
        },
    }
}

_ERROR: dict[str, Any] = {"content": {"application/json": {"example": {"detail": "..."}}}}
_BYTES: dict[str, Any] = {"content": {"application/octet-stream": {}}, "description": "The bytes."}


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


@router.post(
    "/files/upload",
    openapi_extra=UPLOAD_OPENAPI,
    responses={
        401: {"description": "No or invalid token", **_ERROR},
        413: {"description": "File over the size limit", **_ERROR},
        415: {"description": "Not multipart/form-data", **_ERROR},
        422: {"description": "No file, empty file, bad bucket, image bomb", **_ERROR},
    },
)
async def upload_file(
    request: Request, user: CurrentUser, library: Library, settings: SettingsDep, prefix: RootPath
) -> FileOut:
    """Upload one file (signed in). The type is detected from the bytes; images get a
    thumbnail that fits 300x300, SVGs are their own thumbnail."""
    received = await receive_upload(
        request.stream(),
        content_type=request.headers.get("content-type"),
        content_length=_content_length(request),
        spool_dir=library.spool_dir,
        max_file_bytes=settings.max_upload_bytes,
    )
    record = await library.store(received, user)
    return FileOut.of(record, prefix)


@router.get("/files/{file_id}", responses={404: _ERROR})
async def get_file(file_id: str, library: Library, prefix: RootPath) -> FileOut:
    """A file's metadata (public)."""
    return FileOut.of(await library.get(file_id), prefix)


@router.get(
    "/files/{file_id}/content",
    response_class=Response,
    responses={200: _BYTES, 206: _BYTES, 304: {}, 404: _ERROR, 416: _ERROR},
)
@router.head("/files/{file_id}/content", response_class=Response, include_in_schema=False)
async def get_file_content(
    file_id: str, request: Request, library: Library, blobs: Blobs
) -> Response:
    """The file's bytes (public), with ETag, long-lived caching and single byte ranges."""
    record = await library.get(file_id)
    return blob_response(request, blobs, record.content, record.file_name)


@router.get(
    "/files/{file_id}/thumbnail",
    response_class=Response,
    responses={200: _BYTES, 206: _BYTES, 304: {}, 404: _ERROR, 416: _ERROR},
)
@router.head("/files/{file_id}/thumbnail", response_class=Response, include_in_schema=False)
async def get_file_thumbnail(
    file_id: str, request: Request, library: Library, blobs: Blobs
) -> Response:
    """The file's thumbnail (public); 404 for files that have none."""
    record = await library.get(file_id)
    if record.thumbnail is None:
        raise NotFound("This file has no thumbnail")
    name = _thumbnail_name(record.file_name, record.thumbnail.content_type)
    return blob_response(request, blobs, record.thumbnail, name)


@router.delete(
    "/files/{file_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: _ERROR, 403: _ERROR, 404: _ERROR},
)
async def delete_file(file_id: str, user: CurrentUser, library: Library) -> Response:
    """Delete a file, bytes and metadata; its uploader or an admin only."""
    await library.delete(file_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _thumbnail_name(file_name: str, content_type: str) -> str:
    stem = file_name.rsplit(".", 1)[0] if "." in file_name[1:] else file_name
    extension = {"image/jpeg": "jpg", "image/png": "png", "image/svg+xml": "svg"}.get(
        content_type, "bin"
    )
    return f"{stem}-thumbnail.{extension}"
