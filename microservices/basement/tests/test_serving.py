"""Serving stored bytes safely: types, dispositions, sandboxing, caching and ranges."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.serving import ByteRange, RangeNotSatisfiable, content_disposition, parse_range
from tests.media import jpeg


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """How bytes are served does not depend on the database: SQLite is enough here.

    (Storing and reading metadata runs on SQLite and PostgreSQL in the other modules.)
    """
    return f"sqlite:///{tmp_path / 'test.db'}"


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def _upload(client: TestClient, headers: dict[str, str], content: bytes, name: str) -> str:
    response = client.post("/files/upload", files={"file": (name, content)}, headers=headers)
    assert response.status_code == 200, response.text
    file_id: str = response.json()["file_id"]
    return file_id


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", ByteRange(0, 10)),
        ("bytes=90-", ByteRange(90, 100)),
        ("bytes=-10", ByteRange(90, 100)),
        ("bytes=-500", ByteRange(0, 100)),
        ("bytes=50-5000", ByteRange(50, 100)),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=9-3", None),
    ],
)
def test_range_headers_parse_to_one_range_or_the_whole_file(
    header: str | None, expected: ByteRange | None
) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=200-300"])
def test_ranges_outside_the_file_are_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


def test_content_disposition_has_an_ascii_fallback_and_the_utf8_name() -> None:
    assert content_disposition("attachment", 'résumé "final".pdf') == (
        'attachment; filename="r_sum_ _final_.pdf"; '
        "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"
    )


def test_content_is_cacheable_forever_and_revalidates_by_hash(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    file_id = _upload(client, user_headers, b"hello world", "hello.txt")
    response = client.get(f"/files/{file_id}/content")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-disposition"].startswith("inline;")
    etag = response.headers["etag"]
    again = client.get(f"/files/{file_id}/content", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_head_gives_the_headers_without_the_body(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    file_id = _upload(client, user_headers, b"0123456789", "digits.txt")
    response = client.head(f"/files/{file_id}/content")
    assert response.status_code == 200
    assert response.headers["content-length"] == "10"
    assert response.content == b""


def test_a_range_is_served_partially_and_a_bad_one_is_416(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    file_id = _upload(client, user_headers, b"0123456789", "digits.txt")
    partial = client.get(f"/files/{file_id}/content", headers={"Range": "bytes=2-4"})
    assert (partial.status_code, partial.content) == (206, b"234")
    assert partial.headers["content-range"] == "bytes 2-4/10"
    outside = client.get(f"/files/{file_id}/content", headers={"Range": "bytes=10-"})
    assert outside.status_code == 416
    assert outside.headers["content-range"] == "bytes */10"
    assert outside.json() == {"detail": "Requested range not satisfiable"}


def test_a_stale_if_range_gets_the_whole_file(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    file_id = _upload(client, user_headers, b"0123456789", "digits.txt")
    response = client.get(
        f"/files/{file_id}/content", headers={"Range": "bytes=2-4", "If-Range": '"other"'}
    )
    assert (response.status_code, response.content) == (200, b"0123456789")


def test_svg_is_its_own_thumbnail_and_is_sandboxed(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    file_id = _upload(client, user_headers, SVG, "logo.svg")
    for kind in ("content", "thumbnail"):
        response = client.get(f"/files/{file_id}/{kind}")
        assert response.content == SVG
        assert response.headers["content-type"] == "image/svg+xml"
        assert response.headers["content-security-policy"] == (
            "default-src 'none'; style-src 'unsafe-inline'; sandbox"
        )
        assert response.headers["x-content-type-options"] == "nosniff"


def test_html_and_unknown_types_download_as_attachments(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    for content in (b"<!doctype html><p>hi", b"\x00\x01binary"):
        file_id = _upload(client, user_headers, content, "thing")
        disposition = client.get(f"/files/{file_id}/content").headers["content-disposition"]
        assert disposition.startswith("attachment;")


def test_a_file_without_a_thumbnail_answers_404_there(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    file_id = _upload(client, user_headers, b"text", "a.txt")
    response = client.get(f"/files/{file_id}/thumbnail")
    assert response.status_code == 404
    assert response.json() == {"detail": "This file has no thumbnail"}


def test_urls_point_under_the_gateway_prefix(
    client: TestClient, user_headers: dict[str, str]
) -> None:
    response = client.post(
        "/files/upload",
        files={"file": ("a.jpg", jpeg(50, 50))},
        headers={**user_headers, "X-Forwarded-Prefix": "/basement"},
    )
    body = response.json()
    assert body["file_url"] == f"/basement/files/{body['file_id']}/content"
    assert body["thumbnail_url"] == f"/basement/files/{body['file_id']}/thumbnail"
