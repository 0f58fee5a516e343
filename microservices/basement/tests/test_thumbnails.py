"""Thumbnails: fit the box, upright, no metadata, fast for big JPEGs, and bombs refused."""

import io
import time
from pathlib import Path

import pytest
from PIL import Image

from app.thumbnails import ImageRejected, make_thumbnail
from tests.media import color_at, image_bytes, jpeg, png_bomb


def _write(tmp_path: Path, content: bytes, name: str = "source") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("format_", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_every_raster_format_gets_a_thumbnail_within_300_by_300(
    tmp_path: Path, format_: str
) -> None:
    source = _write(tmp_path, image_bytes(format_, (1200, 500)))
    result = make_thumbnail(source, tmp_path / "thumb", box=300, max_pixels=10**8)
    assert (result.width, result.height) == (1200, 500)
    with Image.open(result.thumbnail.path) as thumb:
        thumb.load()
        assert thumb.size == (300, 125)
    assert (result.thumbnail.width, result.thumbnail.height) == (300, 125)


def test_a_small_image_is_not_enlarged(tmp_path: Path) -> None:
    source = _write(tmp_path, image_bytes("PNG", (40, 20)))
    result = make_thumbnail(source, tmp_path / "thumb", box=300, max_pixels=10**8)
    assert (result.thumbnail.width, result.thumbnail.height) == (40, 20)


def test_exif_orientation_is_applied_and_metadata_dropped(tmp_path: Path) -> None:
    # 400x200, red left / blue right, to be shown rotated 90 degrees clockwise.
    source = _write(tmp_path, jpeg(400, 200, orientation=6))
    result = make_thumbnail(source, tmp_path / "thumb", box=300, max_pixels=10**8)
    with Image.open(result.thumbnail.path) as thumb:
        assert thumb.size == (150, 300)
        assert not thumb.getexif()
        assert color_at(thumb, (75, 20)) == "red"
        assert color_at(thumb, (75, 280)) == "blue"


def test_transparent_images_keep_their_alpha_as_png(tmp_path: Path) -> None:
    source = _write(tmp_path, image_bytes("PNG", (600, 600), mode="RGBA"))
    result = make_thumbnail(source, tmp_path / "thumb", box=300, max_pixels=10**8)
    assert result.thumbnail.content_type == "image/png"
    with Image.open(result.thumbnail.path) as thumb:
        assert thumb.mode == "RGBA"


def test_opaque_images_become_jpeg(tmp_path: Path) -> None:
    source = _write(tmp_path, image_bytes("PNG", (600, 600)))
    result = make_thumbnail(source, tmp_path / "thumb", box=300, max_pixels=10**8)
    assert result.thumbnail.content_type == "image/jpeg"


def test_a_pixel_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    source = _write(tmp_path, png_bomb(20_000))
    started = time.perf_counter()
    with pytest.raises(ImageRejected, match="pixels"):
        make_thumbnail(source, tmp_path / "thumb", box=300, max_pixels=50_000_000)
    assert time.perf_counter() - started < 0.5
    assert not (tmp_path / "thumb").exists()


def test_a_corrupt_image_is_refused(tmp_path: Path) -> None:
    source = _write(tmp_path, jpeg(800, 600)[:2000])
    with pytest.raises(ImageRejected, match="cannot be decoded"):
        make_thumbnail(source, tmp_path / "thumb", box=300, max_pixels=10**8)


def _naive_thumbnail(content: bytes) -> None:
    image = Image.open(io.BytesIO(content)).convert("RGB")
    image.thumbnail((300, 300))
    image.save(io.BytesIO(), "PNG")


def test_a_big_jpeg_is_thumbnailed_much_faster_than_a_full_decode(tmp_path: Path) -> None:
    content = jpeg(4000, 3000)
    source = _write(tmp_path, content)

    def best_of_three(work: object) -> float:
        assert callable(work)
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            work()
            timings.append(time.perf_counter() - started)
        return min(timings)

    naive = best_of_three(lambda: _naive_thumbnail(content))
    fast = best_of_three(
        lambda: make_thumbnail(source, tmp_path / "thumb", box=300, max_pixels=10**8)
    )
    assert fast * 3 < naive, (fast, naive)
