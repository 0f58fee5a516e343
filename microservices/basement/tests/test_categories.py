"""The category tree: slugs, levels, sibling uniqueness, moves, deletes, cycles, files."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.slugs import base_slug, first_free, slugify
from servicekit.testing import TokenFactory


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Test Category", "test-category"),
        ("  Hello,   World!  ", "hello-world"),
        ("Café Menü", "café-menü"),
        ("Книги и журналы", "книги-и-журналы"),
        ("ﬁne ＡＢＣ", "fine-abc"),  # NFKC: ligature and full-width letters
        ("a -- b __c__", "a-b-__c"),
        ("_-edge-_", "edge"),
        ("!!!", ""),
    ],
)
def test_slugify_matches_djangos_unicode_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_a_title_without_slug_characters_gets_a_fallback_slug() -> None:
    assert base_slug("!!!") == "category"


def test_the_first_free_suffix_is_used() -> None:
    assert first_free("books", set()) == "books"
    assert first_free("books", {"books", "books-2", "books-4"}) == "books-3"


class Tree:
    """Category calls as an admin, answering JSON."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def create(self, title: str, parent: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"title": title}
        if parent is not None:
            body["parent_id"] = parent["category_id"]
        response = self.client.post("/categories", json=body, headers=self.headers)
        assert response.status_code == 200, response.text
        created: dict[str, Any] = response.json()
        return created

    def get(self, category: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = self.client.get(f"/categories/{category['category_id']}").json()
        return found

    def patch(self, category: dict[str, Any], **changes: Any) -> Any:
        return self.client.patch(
            f"/categories/{category['category_id']}", json=changes, headers=self.headers
        )


@pytest.fixture
def tree(client: TestClient, admin_headers: dict[str, str]) -> Tree:
    return Tree(client, admin_headers)


def test_slugs_are_unique_among_siblings_only(tree: Tree) -> None:
    first = tree.create("Books")
    second = tree.create("Books")
    third = tree.create("books!")
    child = tree.create("Books", parent=first)
    assert [first["slug"], second["slug"], third["slug"]] == ["books", "books-2", "books-3"]
    assert child["slug"] == "books"
    assert tree.create("!!!")["slug"] == "category"


def test_levels_follow_parents_and_unknown_parents_are_404(
    tree: Tree, client: TestClient, admin_headers: dict[str, str]
) -> None:
    root = tree.create("Root")
    child = tree.create("Child", parent=root)
    grandchild = tree.create("Grandchild", parent=child)
    assert [root["level"], child["level"], grandchild["level"]] == [0, 1, 2]
    response = client.post(
        "/categories", json={"title": "Orphan", "parent_id": "missing"}, headers=admin_headers
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Parent category not found"}


def test_moving_a_category_moves_its_subtree_levels_and_keeps_slugs_unique(tree: Tree) -> None:
    a = tree.create("A")
    b = tree.create("B", parent=a)
    c = tree.create("C", parent=b)
    other = tree.create("Other")
    clash = tree.create("B", parent=other)

    moved = tree.patch(b, parent_id=other["category_id"])
    assert moved.status_code == 200
    assert (moved.json()["level"], moved.json()["slug"]) == (1, "b-2")
    assert clash["slug"] == "b"
    assert tree.get(c)["level"] == 2

    to_root = tree.patch(b, parent_id=None).json()
    assert (to_root["parent_id"], to_root["level"], to_root["slug"]) == (None, 0, "b-2")
    assert tree.get(c)["level"] == 1


def test_a_category_cannot_move_under_itself_or_a_descendant(tree: Tree) -> None:
    a = tree.create("A")
    b = tree.create("B", parent=a)
    c = tree.create("C", parent=b)
    for target in (a, c):
        response = tree.patch(a, parent_id=target["category_id"])
        assert response.status_code == 422
        assert "descendant" in response.json()["detail"]
    assert tree.get(a)["parent_id"] is None
    assert tree.patch(a, parent_id="missing").status_code == 404


def test_renaming_derives_a_new_slug(tree: Tree) -> None:
    tree.create("Sci-Fi")
    fantasy = tree.create("Fantasy")
    renamed = tree.patch(fantasy, title="Sci Fi").json()
    assert (renamed["title"], renamed["slug"]) == ("Sci Fi", "sci-fi-2")
    assert tree.patch(fantasy, title=None).status_code == 422


def test_deleting_a_category_moves_its_children_up(
    tree: Tree, client: TestClient, admin_headers: dict[str, str]
) -> None:
    top = tree.create("Top")
    middle = tree.create("Middle", parent=top)
    same_name = tree.create("Middle", parent=middle)  # will clash with its parent's slug
    leaf = tree.create("Leaf", parent=same_name)

    response = client.delete(f"/categories/{middle['category_id']}", headers=admin_headers)
    assert response.status_code == 204
    assert client.get(f"/categories/{middle['category_id']}").status_code == 404
    moved = tree.get(same_name)
    assert (moved["parent_id"], moved["level"], moved["slug"]) == (top["category_id"], 1, "middle")
    assert tree.get(leaf)["level"] == 2
    assert client.delete("/categories/missing", headers=admin_headers).status_code == 404


def test_listing_by_parent_and_as_a_nested_tree(tree: Tree, client: TestClient) -> None:
    root = tree.create("Root")
    tree.create("Zeta", parent=root)
    alpha = tree.create("Alpha", parent=root)
    tree.create("Deep", parent=alpha)

    children = client.get("/categories", params={"parent_id": root["category_id"]}).json()
    assert [c["title"] for c in children] == ["Alpha", "Zeta"]
    assert client.get("/categories", params={"parent_id": "missing"}).status_code == 404

    [node] = client.get("/categories", params={"tree": "true"}).json()
    assert [c["title"] for c in node["children"]] == ["Alpha", "Zeta"]
    assert [c["title"] for c in node["children"][0]["children"]] == ["Deep"]


def test_the_first_attached_file_is_the_categorys_file(
    tree: Tree, client: TestClient, admin_headers: dict[str, str]
) -> None:
    category = tree.create("Covers")
    file_ids = [
        client.post(
            "/files/upload", files={"file": (f"{n}.txt", b"x")}, headers=admin_headers
        ).json()["file_id"]
        for n in range(2)
    ]
    url = f"/categories/{category['category_id']}/files"
    for file_id in file_ids:
        response = client.post(url, json={"file_id": file_id}, headers=admin_headers)
        assert response.status_code == 200
    assert response.json()["file_url"] == f"/files/{file_ids[0]}/content"
    assert client.post(url, json={"file_id": "missing"}, headers=admin_headers).status_code == 404
    # Deleting the file detaches it; the next one becomes the category's file.
    client.delete(f"/files/{file_ids[0]}", headers=admin_headers)
    assert tree.get(category)["file_url"] == f"/files/{file_ids[1]}/content"


def test_only_admins_change_categories(
    client: TestClient, tokens: TokenFactory, admin_headers: dict[str, str]
) -> None:
    user = tokens.headers("someone")
    assert client.post("/categories", json={"title": "X"}, headers=user).status_code == 403
    assert client.post("/categories", json={"title": "X"}).status_code == 401
    category = client.post("/categories", json={"title": "X"}, headers=admin_headers).json()
    path = f"/categories/{category['category_id']}"
    assert client.patch(path, json={"title": "Y"}, headers=user).status_code == 403
    assert client.delete(path, headers=user).status_code == 403
    assert client.get(path).status_code == 200
