"""The basement through the real gateway: uploads, downloads, thumbnails, safety, categories.

This module runs its own small platform (accounts and basement) with a 210 MB upload limit,
so that a 200 MB upload can go through and the service's memory can be watched.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from devstack import Stack
from tests.platform_users import SignedInUser, sign_up

MB = 1024 * 1024
UPLOAD_LIMIT = 210 * MB
ADMIN_PHONE = "+15550000001"
ADMIN_PASSWORD = "basement admin password 42"


@pytest.fixture(scope="module")
def basement_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir: Path = tmp_path_factory.mktemp("basement-platform")
    with Stack(
        data_dir=data_dir,
        services=("accounts", "basement"),
        env={
            "BASEMENT_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
            "ACCOUNTS_ADMIN_PHONE": ADMIN_PHONE,
            "ACCOUNTS_ADMIN_PASSWORD": ADMIN_PASSWORD,
        },
        gateway={
            "GATEWAY_MAX_UPLOAD_SIZE": "300m",
            "GATEWAY_AUTH_RATE": "50r/s",
            "GATEWAY_AUTH_BURST": "100",
        },
    ) as running:
        yield running


@pytest.fixture(scope="module")
def client(basement_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=basement_stack.gateway_url, timeout=60.0) as http:
        yield http


@pytest.fixture(scope="module")
def user(client: httpx.Client) -> SignedInUser:
    return sign_up(client)


@pytest.fixture(scope="module")
def admin_headers(client: httpx.Client) -> dict[str, str]:
    response = client.post(
        "/accounts/auth/token", json={"phone_number": ADMIN_PHONE, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def storage_dir(stack: Stack) -> Path:
    return stack.data_dir / "basement" / "files"


def stored_files(stack: Stack) -> set[Path]:
    return {path for path in storage_dir(stack).rglob("*") if path.is_file()}


def upload(
    client: httpx.Client, user: SignedInUser, content: bytes, name: str = "file.bin", **data: str
) -> httpx.Response:
    return client.post(
        "/basement/files/upload",
        files={"file": (name, content, "application/octet-stream")},
        data=data,
        headers=user.headers,
    )


def assert_nosniff(response: httpx.Response) -> None:
    values = {value.strip() for value in response.headers.get_list("x-content-type-options")}
    assert values == {"nosniff"}


def jpeg(width: int, height: int, *, exif_orientation: int | None = None) -> bytes:
    # A left half red, right half blue picture: orientation mistakes are visible.
    image = Image.new("RGB", (width, height), "red")
    image.paste("blue", (width // 2, 0, width, height))
    buffer = io.BytesIO()
    exif = Image.Exif()
    if exif_orientation is not None:
        exif[0x0112] = exif_orientation
    image.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def color_at(image: Image.Image, xy: tuple[int, int]) -> str:
    pixel = image.getpixel(xy)
    assert isinstance(pixel, tuple)
    red, _, blue = pixel[:3]
    if red > 200 and blue < 60:
        return "red"
    if blue > 200 and red < 60:
        return "blue"
    return f"other {pixel}"


def noisy_jpeg(width: int, height: int) -> bytes:
    image = Image.effect_noise((width, height), 60).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def png_bomb(side: int) -> bytes:
    """A valid 1-bit PNG of ``side`` x ``side`` black pixels: a few KB that decode to a lot."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return len(payload).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    row = b"\x00" * (1 + (side + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


# -- upload and download -------------------------------------------------------------------------


def test_uploaded_bytes_download_identical_through_the_gateway(
    client: httpx.Client, user: SignedInUser
) -> None:
    content = secrets.token_bytes(3 * MB + 17)
    response = upload(client, user, content, "data.bin", file_tags="backup")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)
    assert body["file_url"] == f"/basement/files/{body['file_id']}/content"
    assert body["thumbnail_url"] is None

    download = client.get(body["file_url"])
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == body["sha256"]
    assert download.headers["etag"] == f'"{body["sha256"]}"'
    assert_nosniff(download)
    assert client.get(f"/basement/files/{body['file_id']}").json() == body


def test_a_byte_range_comes_back_partial(client: httpx.Client, user: SignedInUser) -> None:
    content = secrets.token_bytes(100_000)
    file_url = upload(client, user, content).json()["file_url"]
    partial = client.get(file_url, headers={"Range": "bytes=1000-1999"})
    assert partial.status_code == 206
    assert partial.content == content[1000:2000]
    assert partial.headers["content-range"] == "bytes 1000-1999/100000"


def test_uploading_without_a_token_is_refused(client: httpx.Client) -> None:
    response = client.post("/basement/files/upload", files={"file": ("a.txt", b"hi")})
    assert response.status_code == 401
    assert response.json()["detail"]


def test_image_thumbnail_decodes_and_fits_300_by_300(
    client: httpx.Client, user: SignedInUser
) -> None:
    body = upload(client, user, jpeg(1600, 900), "wide.jpg").json()
    assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 1600, 900)
    thumbnail = client.get(body["thumbnail_url"])
    assert thumbnail.status_code == 200
    image = Image.open(io.BytesIO(thumbnail.content))
    image.load()
    assert image.size == (300, 169)


def test_an_exif_rotated_jpeg_gets_an_upright_thumbnail(
    client: httpx.Client, user: SignedInUser
) -> None:
    # Stored 400x200 (red left, blue right) with "rotate 90 CW to display": upright it is
    # 200x400 with red on top.
    body = upload(client, user, jpeg(400, 200, exif_orientation=6), "phone.jpg").json()
    image = Image.open(io.BytesIO(client.get(body["thumbnail_url"]).content)).convert("RGB")
    assert image.size == (150, 300)
    assert color_at(image, (75, 30)) == "red"
    assert color_at(image, (75, 270)) == "blue"
    assert "exif" not in image.info


# -- big uploads -----------------------------------------------------------------------------------


def _vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def _multipart_stream(
    boundary: str, size: int, digest: hashlib._Hash
) -> tuple[Iterator[bytes], int]:
    """A multipart body with one ``size``-byte file part, generated 1 MB at a time."""
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = os.urandom(MB)

    def body() -> Iterator[bytes]:
        yield head
        sent = 0
        counter = 0
        while sent < size:
            # A counter in each block, so reordered or repeated blocks change the hash.
            piece = (counter.to_bytes(8, "big") + block[8:])[: size - sent]
            digest.update(piece)
            yield piece
            sent += len(piece)
            counter += 1
        yield tail

    return body(), len(head) + size + len(tail)


def test_a_200_mb_upload_streams_with_flat_memory(
    client: httpx.Client, user: SignedInUser, basement_stack: Stack
) -> None:
    pid = basement_stack.pid("basement")
    # Reset the peak-RSS counter ("5" = VmHWM), so earlier tests do not count.
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    baseline_kib = _vm_kib(pid, "VmRSS")

    digest = hashlib.sha256()
    boundary = secrets.token_hex(16)
    body, length = _multipart_stream(boundary, 200 * MB, digest)
    started = time.perf_counter()
    response = client.post(
        "/basement/files/upload",
        content=body,
        headers={
            **user.headers,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(length),
        },
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    growth_mb = (_vm_kib(pid, "VmHWM") - baseline_kib) / 1024
    print(f"200 MB upload: {200 / elapsed:.0f} MB/s, peak RSS growth {growth_mb:.1f} MB")
    assert response.json()["sha256"] == digest.hexdigest()
    assert response.json()["size"] == 200 * MB
    assert growth_mb < 64


def test_an_upload_over_the_limit_is_413_and_leaves_nothing(
    client: httpx.Client, user: SignedInUser, basement_stack: Stack
) -> None:
    before = stored_files(basement_stack)
    digest = hashlib.sha256()
    boundary = secrets.token_hex(16)
    body, _ = _multipart_stream(boundary, UPLOAD_LIMIT + MB, digest)
    # No Content-Length (chunked): the service finds out while streaming, not up front.
    response = client.post(
        "/basement/files/upload",
        content=body,
        headers={**user.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert stored_files(basement_stack) == before


# -- safety ----------------------------------------------------------------------------------------


def test_a_png_bomb_is_refused_fast(client: httpx.Client, user: SignedInUser) -> None:
    bomb = png_bomb(20_000)  # 400 million pixels in about 50 KB
    assert len(bomb) < 200_000
    started = time.perf_counter()
    response = upload(client, user, bomb, "bomb.png")
    assert response.status_code == 422
    assert "pixels" in response.json()["detail"]
    assert time.perf_counter() - started < 1.0


def test_a_path_like_file_name_is_only_a_label(
    client: httpx.Client, user: SignedInUser, basement_stack: Stack
) -> None:
    before = {path for path in basement_stack.data_dir.rglob("*") if path.is_file()}
    body = upload(client, user, b"just text\n", "../../x").json()
    assert body["file_name"] == "../../x"
    new_files = {path for path in basement_stack.data_dir.rglob("*") if path.is_file()} - before
    stored = [path for path in new_files if path.parent.name == "chat-bucket"]
    assert [path.name for path in stored] == [body["file_id"]]
    assert all(
        path.is_relative_to(basement_stack.data_dir / "basement")
        or path.is_relative_to(basement_stack.log_dir)
        or path.is_relative_to(basement_stack.run_dir)
        for path in new_files
    )
    assert not (basement_stack.data_dir.parent / "x").exists()
    download = client.get(body["file_url"])
    assert download.content == b"just text\n"
    assert "filename*=UTF-8''..%2F..%2Fx" in download.headers["content-disposition"]


def test_an_svg_with_a_script_is_served_sandboxed(client: httpx.Client, user: SignedInUser) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    body = upload(client, user, svg, "logo.svg").json()
    assert body["content_type"] == "image/svg+xml"
    assert body["thumbnail_url"] is not None
    for url in (body["file_url"], body["thumbnail_url"]):
        response = client.get(url)
        assert response.content == svg
        assert response.headers["content-type"] == "image/svg+xml"
        csp = response.headers["content-security-policy"]
        assert "sandbox" in csp
        assert "default-src 'none'" in csp
        assert "script-src" not in csp
        assert_nosniff(response)


def test_an_html_upload_downloads_as_an_attachment(
    client: httpx.Client, user: SignedInUser
) -> None:
    page = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
    body = upload(client, user, page, "page.png").json()
    assert body["content_type"] == "text/html"
    response = client.get(body["file_url"])
    assert response.headers["content-disposition"].startswith("attachment;")
    assert_nosniff(response)


def test_healthz_stays_fast_while_20_large_jpegs_are_thumbnailed(
    client: httpx.Client, user: SignedInUser, basement_stack: Stack
) -> None:
    photo = noisy_jpeg(4000, 3000)
    latencies: list[float] = []
    uploads_done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=basement_stack.gateway_url, timeout=10.0) as prober:
            deadline = time.monotonic() + 60
            while not uploads_done.is_set() and time.monotonic() < deadline:
                started = time.perf_counter()
                assert prober.get("/basement/healthz").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)

    def send(index: int) -> int:
        with httpx.Client(base_url=basement_stack.gateway_url, timeout=60.0) as uploader:
            return upload(uploader, user, photo, f"photo-{index}.jpg").status_code

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(send, range(20)))
    finally:
        uploads_done.set()
        prober.join()
    assert statuses == [200] * 20
    assert len(latencies) >= 5
    slowest = max(latencies)
    print(f"/healthz during thumbnailing: {len(latencies)} probes, slowest {slowest * 1000:.0f} ms")
    assert slowest < 0.5


# -- categories ----------------------------------------------------------------------------------


def test_an_admin_builds_a_category_tree_with_a_file(
    client: httpx.Client, user: SignedInUser, admin_headers: dict[str, str]
) -> None:
    title = f"Test Category {secrets.token_hex(3)}"
    root = client.post("/basement/categories", json={"title": title}, headers=admin_headers)
    assert root.status_code == 200, root.text
    assert root.json()["slug"] == title.lower().replace(" ", "-")
    assert root.json()["level"] == 0
    child = client.post(
        "/basement/categories",
        json={"title": "Sub", "parent_id": root.json()["category_id"]},
        headers=admin_headers,
    ).json()
    assert child["level"] == 1

    file_id = upload(client, user, jpeg(64, 64), "cover.jpg").json()["file_id"]
    attached = client.post(
        f"/basement/categories/{root.json()['category_id']}/files",
        json={"file_id": file_id},
        headers=admin_headers,
    )
    assert attached.status_code == 200
    assert client.get(attached.json()["file_url"]).status_code == 200

    tree = client.get("/basement/categories", params={"tree": "true"}).json()
    [node] = [node for node in tree if node["category_id"] == root.json()["category_id"]]
    assert [c["category_id"] for c in node["children"]] == [child["category_id"]]


def test_a_normal_user_cannot_create_categories(client: httpx.Client, user: SignedInUser) -> None:
    response = client.post("/basement/categories", json={"title": "Mine"}, headers=user.headers)
    assert response.status_code == 403
