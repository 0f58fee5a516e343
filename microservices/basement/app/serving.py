"""Serving stored bytes safely from the gateway's origin, with caching and byte ranges.

Every answer carries ``X-Content-Type-Options: nosniff`` and a sandboxing
``Content-Security-Policy`` (so an SVG or HTML upload cannot run script on our origin);
only types a browser renders inertly are ``inline``, the rest download as attachments.
Blobs never change (ids are never reused), so the ETag is the SHA-256 and caches may keep
them for a year. One byte range per request is honoured (206); others get the whole file.

Starlette's ``FileResponse`` also does ranges, but it needs a local path (this works with any
``BlobStore``) and answers bad ranges in plain text rather than our JSON errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from app.blobs import BlobStore
from app.model import StoredBlob
from app.sniffing import RASTER_IMAGE_TYPES, SVG

IMMUTABLE = "public, max-age=31536000, immutable"
SANDBOX_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
_INLINE_TYPES = RASTER_IMAGE_TYPES | {SVG, "application/pdf", "text/plain; charset=utf-8"}
_INLINE_PREFIXES = ("audio/", "video/")
_SINGLE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
# RFC 5987 attr-char, besides letters and digits (which quote() always keeps).
_ATTR_CHARS = "!#$&+-.^_`|~"


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` to ``end`` (exclusive) of a file."""

    start: int
    end: int


class RangeNotSatisfiable(Exception):
    """The requested range lies outside the file."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range a ``Range`` header asks for, or None to send the whole file.

    Malformed and multi-range headers are ignored, as RFC 9110 allows; a range that starts
    past the end raises ``RangeNotSatisfiable``.
    """
    if not header:
        return None
    match = _SINGLE_RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        # "bytes=-N": the last N bytes.
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(size - suffix, 0), size)
    start = int(first)
    end = size if not last else int(last) + 1
    if last and end <= start:
        return None  # "bytes=9-3" is invalid: ignored
    if start >= size:
        raise RangeNotSatisfiable
    return ByteRange(start, min(end, size))


def content_disposition(disposition: str, file_name: str) -> str:
    """A ``Content-Disposition`` value per RFC 6266: an ASCII fallback and the UTF-8 name."""
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\%/' else "_" for ch in file_name)
    encoded = quote(file_name, safe=_ATTR_CHARS)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def disposition_for(content_type: str) -> str:
    """``inline`` for types browsers show without running anything, else ``attachment``."""
    if content_type in _INLINE_TYPES or content_type.startswith(_INLINE_PREFIXES):
        return "inline"
    return "attachment"


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = [value.strip().removeprefix("W/") for value in header.split(",")]
    return "*" in candidates or etag in candidates


def blob_response(request: Request, blobs: BlobStore, blob: StoredBlob, file_name: str) -> Response:
    """The answer to GET or HEAD of ``blob``: 200, 206, 304 or 416."""
    etag = f'"{blob.sha256}"'
    headers = {
        "ETag": etag,
        "Cache-Control": IMMUTABLE,
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": content_disposition(disposition_for(blob.content_type), file_name),
    }
    # Chrome will not render a PDF in a sandboxed document; PDFs run no script of ours.
    if blob.content_type != "application/pdf":
        headers["Content-Security-Policy"] = SANDBOX_CSP

    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)

    byte_range: ByteRange | None = None
    if_range = request.headers.get("if-range")
    if if_range is None or if_range.strip() == etag:
        try:
            byte_range = parse_range(request.headers.get("range"), blob.size)
        except RangeNotSatisfiable:
            return JSONResponse(
                status_code=416,
                content={"detail": "Requested range not satisfiable"},
                headers={**headers, "Content-Range": f"bytes */{blob.size}"},
            )

    status = 200
    start, end = 0, blob.size
    if byte_range is not None:
        status = 206
        start, end = byte_range.start, byte_range.end
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
    headers["Content-Length"] = str(end - start)

    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=blob.content_type)
    return StreamingResponse(
        blobs.read(blob.bucket, blob.key, start, end),
        status_code=status,
        headers=headers,
        media_type=blob.content_type,
    )
