"""Content types come from the bytes."""

import pytest

from app.sniffing import OCTET_STREAM, PLAIN_TEXT, detect_content_type
from tests.media import image_bytes, jpeg


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (jpeg(16, 16), "image/jpeg"),
        (image_bytes("PNG"), "image/png"),
        (image_bytes("GIF"), "image/gif"),
        (image_bytes("WEBP"), "image/webp"),
        (image_bytes("BMP"), "image/bmp"),
        (image_bytes("TIFF"), "image/tiff"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"PK\x03\x04rest", "application/zip"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
        (b"  <svg viewBox='0 0 1 1'></svg>", "image/svg+xml"),
        (b"<!DOCTYPE html><html></html>", "text/html"),
        (b"\n<HTML><body>x</body></HTML>", "text/html"),
        (b"<script>alert(1)</script>", "text/html"),
        (b'<?xml version="1.0"?><note/>', "application/xml"),
        (b"plain words, caf\xc3\xa9\n", PLAIN_TEXT),
        (b"<abbr>not html</abbr>", PLAIN_TEXT),
        (b"\x00\x01\x02binary", OCTET_STREAM),
        (b"", OCTET_STREAM),
    ],
)
def test_content_type_is_detected_from_the_first_bytes(head: bytes, expected: str) -> None:
    assert detect_content_type(head) == expected


def test_text_cut_inside_a_multibyte_character_is_still_text() -> None:
    assert detect_content_type("aé".encode()[:-1]) == PLAIN_TEXT
