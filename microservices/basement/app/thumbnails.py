"""Image checks and thumbnails: fast, upright, metadata-free, and safe against pixel bombs.

Everything here is blocking CPU work on local files: callers run it in a worker thread
(Pillow releases the GIL while decoding, so the event loop keeps serving).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

# Thumbnail encodings: opaque images as JPEG (small), images with transparency as PNG.
_JPEG_QUALITY = 85
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


class ImageRejected(Exception):
    """The upload cannot be accepted as an image; ``detail`` says why, for the client."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A thumbnail written to a local file."""

    path: Path
    content_type: str
    width: int
    height: int
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ImageResult:
    """What thumbnailing an upload found and made."""

    width: int
    height: int
    thumbnail: Thumbnail


def make_thumbnail(source: Path, target: Path, *, box: int, max_pixels: int) -> ImageResult:
    """Check the image at ``source`` and write its thumbnail (fits ``box`` x ``box``) to ``target``.

    The pixel count comes from the header and is checked before any pixel is decoded, so a
    decompression bomb costs a few reads. JPEGs are decoded at a reduced scale (DCT scaling),
    which is most of the speed. EXIF orientation is applied; no metadata is copied.
    Raises ``ImageRejected`` for bombs and files that do not decode.
    """
    try:
        with warnings.catch_warnings():
            # Our own limit (below) is the one that applies; Pillow's warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageRejected(
                        f"Image is {width}x{height} pixels; the limit is {max_pixels} pixels"
                    )
                if image.format == "JPEG":
                    # Decode at the smallest 1/1, 1/2, 1/4 or 1/8 scale still >= the box.
                    image.draft("RGB", (box, box))
                thumbnail = _thumbnail_of(image, box)
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected("Image has too many pixels") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        # OSError covers truncated and corrupt data; SyntaxError is what some plugins raise.
        raise ImageRejected("The file looks like an image but cannot be decoded") from exc

    content_type = _save(thumbnail, target)
    return ImageResult(
        width=width,
        height=height,
        thumbnail=Thumbnail(
            path=target,
            content_type=content_type,
            width=thumbnail.width,
            height=thumbnail.height,
            size=os.path.getsize(target),
            sha256=_sha256_of(target),
        ),
    )


def _thumbnail_of(image: Image.Image, box: int) -> Image.Image:
    """A new, upright, RGB(A) or L(A) image fitting ``box`` x ``box`` (first frame only)."""
    upright = ImageOps.exif_transpose(image)
    has_alpha = upright.mode in _ALPHA_MODES or (
        upright.mode == "P" and "transparency" in upright.info
    )
    if upright.mode not in ("RGB", "RGBA", "L", "LA"):
        upright = upright.convert("RGBA" if has_alpha else "RGB")
    # Bicubic with a reducing gap: a cheap box reduction first, then a good final filter.
    upright.thumbnail((box, box), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return upright


def _save(image: Image.Image, target: Path) -> str:
    """Write ``image`` without metadata; JPEG when opaque, PNG when it has transparency."""
    if image.mode in ("RGBA", "LA"):
        image.save(target, format="PNG", optimize=False)
        return "image/png"
    image.save(target, format="JPEG", quality=_JPEG_QUALITY, optimize=True)
    return "image/jpeg"


def _sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
