"""Uploading: signed in only, streamed with a size limit, typed by content, stored safely."""

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
from fastapi.testclient import TestClient

from app.settings import Settings
from app.uploads import WRITE_BATCH_BYTES, receive_upload
from tests.conftest import TEST_UPLOAD_LIMIT
from tests.media import jpeg, png_bomb


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """How bytes are served does not depend on the database: SQLite is enough here.

    (Storing and reading metadata runs on SQLite and PostgreSQL in the other modules.)
    """
    return f"sqlite:///{tmp_path / 'test.db'}"


def _files_on_disk(settings: Settings) -> list[Path]:
    return sorted(path for path in settings.effective_storage_dir.rglob("*") if path.is_file())


def _upload(
    client: TestClient, headers: dict[str, str], content: bytes, name: str = "f.bin", **data: str
) -> dict[str, object]:
    response = client.post(
        "/files/upload", files={"file": (name, content)}, data=data, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_uploading_without_a_token_is_401(client: TestClient) -> None:
    response = client.post("/files/upload", files={"file": ("a.txt", b"hi")})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_the_response_describes_the_stored_bytes(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    body = _upload(client, user_headers, jpeg(640, 480), "cat.jpg", file_tags="pets")
    assert body["content_type"] == "image/jpeg"
    assert (body["width"], body["height"]) == (640, 480)
    assert body["uploader_id"] == "user-1"
    download = client.get(f"/files/{body['file_id']}/content")
    assert len(download.content) == body["size"]
    assert hashlib.sha256(download.content).hexdigest() == body["sha256"]


def test_the_type_comes_from_the_bytes_not_the_name_or_header(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    response = client.post(
        "/files/upload",
        files={"file": ("innocent.jpg", b"<html><script>x()</script></html>", "image/jpeg")},
        headers=user_headers,
    )
    assert response.json()["content_type"] == "text/html"
    assert response.json()["thumbnail_url"] is None


def test_a_file_over_the_limit_is_413_and_leaves_nothing(
    client: TestClient, user_headers: dict[str, str], settings: Settings
) -> None:
    response = client.post(
        "/files/upload",
        files={"file": ("big.bin", b"x" * (TEST_UPLOAD_LIMIT + 1))},
        headers=user_headers,
    )
    assert response.status_code == 413
    assert response.json() == {"detail": f"File too large: the limit is {TEST_UPLOAD_LIMIT} bytes"}
    assert _files_on_disk(settings) == []


def test_a_chunked_upload_over_the_limit_is_stopped_while_streaming(
    client: TestClient, user_headers: dict[str, str], settings: Settings
) -> None:
    boundary = "b0undary"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
        ).encode()
        for _ in range(TEST_UPLOAD_LIMIT // 65536 + 2):
            yield b"y" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/files/upload",
        content=body(),
        headers={**user_headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert _files_on_disk(settings) == []


def test_a_file_exactly_at_the_limit_is_accepted(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    body = _upload(client, user_headers, b"z" * TEST_UPLOAD_LIMIT)
    assert body["size"] == TEST_UPLOAD_LIMIT


@pytest.mark.parametrize(
    ("kwargs", "status", "detail"),
    [
        ({"json": {"file": "x"}}, 415, "multipart/form-data"),
        ({"data": {"file_tags": "a"}, "files": {"other": ("a", b"b")}}, 422, "no 'file' field"),
        ({"files": {"file": ("empty.txt", b"")}}, 422, "empty"),
        ({"files": {"file": ("a", b"a")}, "data": {"bucket_name": "Bad_Bucket"}}, 422, "bucket"),
        ({"files": {"file": ("a", b"a")}, "data": {"bucket_name": "ab"}}, 422, "bucket"),
        ({"files": {"file": ("a", b"a")}, "data": {"file_tags": "t" * 5000}}, 422, "too long"),
    ],
)
def test_unacceptable_uploads_get_a_clear_4xx_and_store_nothing(
    client: TestClient,
    user_headers: dict[str, str],
    settings: Settings,
    kwargs: dict[str, object],
    status: int,
    detail: str,
) -> None:
    response = client.post("/files/upload", headers=user_headers, **kwargs)
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert _files_on_disk(settings) == []


def test_a_malformed_multipart_body_is_400(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    response = client.post(
        "/files/upload",
        content=b"--xyz\r\nnot a header line\r\n\r\n",
        headers={**user_headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code == 400
    assert "multipart" in response.json()["detail"]


def test_a_pixel_bomb_is_422_and_stores_nothing(
    client: TestClient, user_headers: dict[str, str], settings: Settings
) -> None:
    response = client.post(
        "/files/upload", files={"file": ("bomb.png", png_bomb(10_000))}, headers=user_headers
    )
    assert response.status_code == 422
    assert "pixels" in response.json()["detail"]
    assert _files_on_disk(settings) == []


def test_a_path_like_name_is_only_a_label(
    client: TestClient, user_headers: dict[str, str], settings: Settings
) -> None:
    body = _upload(client, user_headers, b"data", "../../etc/passwd")
    assert body["file_name"] == "../../etc/passwd"
    assert _files_on_disk(settings) == [
        settings.effective_storage_dir / "chat-bucket" / str(body["file_id"])
    ]


def test_the_bucket_is_a_directory_of_its_own(
    client: TestClient, user_headers: dict[str, str], settings: Settings
) -> None:
    body = _upload(client, user_headers, b"data", bucket_name="avatars.v2")
    assert body["bucket_name"] == "avatars.v2"
    assert (settings.effective_storage_dir / "avatars.v2" / str(body["file_id"])).exists()


def test_control_characters_are_removed_from_the_name(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    # Built by hand: httpx would percent-encode the control characters itself.
    content = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="re\x01port\x7f.txt"'
        b"\r\n\r\ndata\r\n--b--\r\n"
    )
    response = client.post(
        "/files/upload",
        content=content,
        headers={**user_headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.json()["file_name"] == "report.txt"


class ClientWentAway(Exception):
    pass


def test_a_client_that_disconnects_mid_upload_leaves_no_spool_file(tmp_path: Path) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
        for _ in range(3):
            yield b"x" * WRITE_BATCH_BYTES
        raise ClientWentAway

    async def receive() -> None:
        await receive_upload(
            body(),
            content_type="multipart/form-data; boundary=b",
            content_length=None,
            spool_dir=tmp_path,
            max_file_bytes=10 * WRITE_BATCH_BYTES,
        )

    with pytest.raises(ClientWentAway):
        anyio.run(receive)
    assert list(tmp_path.iterdir()) == []
