"""The seed's basement behaviour: upload with thumbnails, file info, categories with levels."""

from fastapi.testclient import TestClient

from tests.media import jpeg


def test_upload_file(client: TestClient, user_headers: dict[str, str]) -> None:
    response = client.post(
        "/files/upload",
        files={"file": ("notes.txt", b"hello basement\n", "text/plain")},
        data={"file_tags": "notes,text"},
        headers=user_headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["file_name"] == "notes.txt"
    assert body["file_tags"] == "notes,text"
    assert body["bucket_name"] == "chat-bucket"
    assert body["file_url"] == f"/files/{body['file_id']}/content"
    assert body["thumbnail_url"] is None
    assert body["created_at"].endswith("+00:00")


def test_upload_image_creates_thumbnail(client: TestClient, user_headers: dict[str, str]) -> None:
    response = client.post(
        "/files/upload", files={"file": ("photo.jpg", jpeg(), "image/jpeg")}, headers=user_headers
    )
    body = response.json()
    assert body["thumbnail_url"] == f"/files/{body['file_id']}/thumbnail"
    assert client.get(body["thumbnail_url"]).status_code == 200


def test_get_file_info(client: TestClient, user_headers: dict[str, str]) -> None:
    uploaded = client.post(
        "/files/upload", files={"file": ("a.txt", b"abc")}, headers=user_headers
    ).json()
    response = client.get(f"/files/{uploaded['file_id']}")
    assert response.status_code == 200
    assert response.json() == uploaded


def test_get_missing_file_is_404(client: TestClient) -> None:
    response = client.get("/files/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}


def test_create_category(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post("/categories", json={"title": "Test Category"}, headers=admin_headers)
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Test Category"
    assert body["slug"] == "test-category"
    assert body["level"] == 0
    assert body["parent_id"] is None
    assert body["file_url"] is None


def test_create_category_with_parent(client: TestClient, admin_headers: dict[str, str]) -> None:
    parent = client.post("/categories", json={"title": "Parent"}, headers=admin_headers).json()
    child = client.post(
        "/categories",
        json={"title": "Child", "parent_id": parent["category_id"]},
        headers=admin_headers,
    ).json()
    assert child["parent_id"] == parent["category_id"]
    assert child["level"] == parent["level"] + 1


def test_get_category(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = client.post("/categories", json={"title": "Books"}, headers=admin_headers).json()
    response = client.get(f"/categories/{created['category_id']}")
    assert response.status_code == 200
    assert response.json() == created


def test_list_categories(client: TestClient, admin_headers: dict[str, str]) -> None:
    for title in ("Music", "Art"):
        client.post("/categories", json={"title": title}, headers=admin_headers)
    response = client.get("/categories")
    assert response.status_code == 200
    assert [category["title"] for category in response.json()] == ["Art", "Music"]
