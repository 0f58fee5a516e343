"""Deleting stored files: by the uploader or an admin, bytes and metadata together."""

from fastapi.testclient import TestClient

from app.settings import Settings
from servicekit.testing import TokenFactory
from tests.media import jpeg


def _upload(client: TestClient, headers: dict[str, str], content: bytes, name: str) -> str:
    response = client.post("/files/upload", files={"file": (name, content)}, headers=headers)
    assert response.status_code == 200, response.text
    file_id: str = response.json()["file_id"]
    return file_id


def test_the_uploader_deletes_a_file_and_its_bytes(
    client: TestClient, user_headers: dict[str, str], settings: Settings
) -> None:
    file_id = _upload(client, user_headers, jpeg(400, 400), "a.jpg")
    assert client.delete(f"/files/{file_id}", headers=user_headers).status_code == 204
    assert client.get(f"/files/{file_id}").status_code == 404
    assert client.get(f"/files/{file_id}/content").status_code == 404
    assert [p for p in settings.effective_storage_dir.rglob("*") if p.is_file()] == []


def test_an_admin_may_delete_anyones_file(
    client: TestClient, user_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    file_id = _upload(client, user_headers, b"data", "a.bin")
    assert client.delete(f"/files/{file_id}", headers=admin_headers).status_code == 204


def test_someone_else_cannot_delete_a_file(
    client: TestClient, user_headers: dict[str, str], tokens: TokenFactory
) -> None:
    file_id = _upload(client, user_headers, b"data", "a.bin")
    response = client.delete(f"/files/{file_id}", headers=tokens.headers("intruder"))
    assert response.status_code == 403
    assert client.get(f"/files/{file_id}").status_code == 200


def test_deleting_a_missing_file_is_404(client: TestClient, user_headers: dict[str, str]) -> None:
    assert client.delete("/files/nope", headers=user_headers).status_code == 404
