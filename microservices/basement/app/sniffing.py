"""Content type detection from a file's first bytes; names and client headers are not trusted.

A small table of signatures (the formats people upload), the WHATWG rules for recognising
HTML, and a UTF-8 check for plain text. Anything else is ``application/octet-stream``.
"""

from __future__ import annotations

import re

# How much of the start of a file the detector looks at.
SNIFF_BYTES = 8192

OCTET_STREAM = "application/octet-stream"
PLAIN_TEXT = "text/plain; charset=utf-8"
SVG = "image/svg+xml"
HTML = "text/html"

# Formats Pillow decodes and thumbnails (GIF and WebP: the first frame).
RASTER_IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff"}
)

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
    (b"\x00asm", "application/wasm"),
)

# WHATWG MIME sniffing: tags that make a document HTML when they open it.
_HTML_OPENERS = (
    b"<!doctype html", b"<html", b"<head", b"<script", b"<iframe", b"<h1", b"<div", b"<font",
    b"<table", b"<a", b"<style", b"<title", b"<b", b"<body", b"<br", b"<p", b"<!--",
)  # fmt: skip
# Any of these after the opener ends the tag name (so "<abbr" is not "<a").
_TAG_TERMINATORS = (b" ", b">", b"\t", b"\n", b"\r", b"\x0c")
_SVG_ROOT = re.compile(rb"<svg[\s>/]")
# Bytes that never occur in text: C0 controls other than tab, newlines and form feed, and DEL.
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")


def detect_content_type(head: bytes) -> str:
    """The media type of a file whose first bytes (up to ``SNIFF_BYTES``) are ``head``."""
    for signature, media_type in _SIGNATURES:
        if head.startswith(signature):
            return media_type
    if len(head) >= 12 and head[:4] == b"RIFF":
        kind = head[8:12]
        if kind == b"WEBP":
            return "image/webp"
        if kind == b"WAVE":
            return "audio/wav"
        if kind == b"AVI ":
            return "video/x-msvideo"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _iso_media_type(head[8:12])
    markup = _markup_type(head)
    if markup is not None:
        return markup
    if _is_text(head):
        return PLAIN_TEXT
    return OCTET_STREAM


def _iso_media_type(brand: bytes) -> str:
    if brand in (b"avif", b"avis"):
        return "image/avif"
    if brand in (b"heic", b"heix", b"mif1", b"msf1"):
        return "image/heic"
    if brand.startswith(b"M4A"):
        return "audio/mp4"
    if brand.startswith(b"qt"):
        return "video/quicktime"
    return "video/mp4"


def _markup_type(head: bytes) -> str | None:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n\x0c").lower()
    if not text.startswith(b"<"):
        return None
    # An SVG document: XML declaration, doctype or comments first, then the <svg> root.
    if _SVG_ROOT.search(text) and (text.startswith((b"<?xml", b"<svg", b"<!doctype svg", b"<!--"))):
        return SVG
    for opener in _HTML_OPENERS:
        end = len(opener)
        if text.startswith(opener) and text[end : end + 1] in _TAG_TERMINATORS:
            return HTML
    if text.startswith(b"<?xml"):
        return "application/xml"
    return None


def _is_text(head: bytes) -> bool:
    if not head or _BINARY_BYTES.search(head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sample may end in the middle of a multi-byte character; that is still text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
