"""Files the tests upload, made on the fly."""

from __future__ import annotations

import io
import zlib

from PIL import Image


def jpeg(width: int = 800, height: int = 600, *, orientation: int | None = None) -> bytes:
    """A JPEG, left half red and right half blue (so rotations show), optional EXIF tag."""
    image = Image.new("RGB", (width, height), "red")
    image.paste("blue", (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make: metadata that a thumbnail must not carry
    if orientation is not None:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def image_bytes(format_: str, size: tuple[int, int] = (640, 480), mode: str = "RGB") -> bytes:
    """A plain image in any format Pillow writes."""
    color: int | tuple[int, ...] = (0, 128, 255, 128)[: len(mode)] if mode != "L" else 128
    image = Image.new(mode, size, color)
    buffer = io.BytesIO()
    image.save(buffer, format_)
    return buffer.getvalue()


def png_bomb(side: int) -> bytes:
    """A valid 1-bit PNG of ``side`` x ``side`` pixels: tiny on disk, huge decoded."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return len(payload).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    row = b"\x00" * (1 + (side + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def color_at(image: Image.Image, xy: tuple[int, int]) -> str:
    """``red``, ``blue`` or ``other``: what the test pictures are made of, at a point."""
    pixel = image.convert("RGB").getpixel(xy)
    assert isinstance(pixel, tuple)
    red, _, blue = pixel[:3]
    if red > 200 and blue < 60:
        return "red"
    if blue > 200 and red < 60:
        return "blue"
    return "other"
