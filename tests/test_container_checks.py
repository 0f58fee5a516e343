"""scripts/check_containers.py must catch what would break the images and the compose stack.

These run without a Docker engine and without building virtualenvs: each feeds the checker a
real file with one defect and expects that defect to be named.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_containers", ROOT / "scripts" / "check_containers.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: its dataclasses look their module up while being defined.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


checker = _load_checker()
ACCOUNTS_DOCKERFILE = ROOT / "microservices" / "accounts" / "Dockerfile"
# Replaces the start of the Python health check; the rest of its line becomes extra arguments.
CURL_HEALTHCHECK = 'CMD ["curl", "--fail", "http://127.0.0.1:8000/healthz", "import urllib.request;'


def _image_from(tmp_path: Path, text: str) -> Any:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(text)
    return checker.ServiceImage("accounts", dockerfile, checker.parse_dockerfile(dockerfile))


def _mutated(tmp_path: Path, old: str, new: str) -> Any:
    text = ACCOUNTS_DOCKERFILE.read_text()
    assert old in text
    return _image_from(tmp_path, text.replace(old, new))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    config: dict[str, Any] = checker.compose_config()
    return config


def test_accounts_dockerfile_parses_into_the_image_layout() -> None:
    image = checker.ServiceImage.load("accounts")
    assert image.runtime.workdir() == "/srv/accounts"
    destinations = {c.destination for c in image.runtime.copies()}
    assert {"/srv/accounts/app/", "/srv/accounts/tests/"} <= destinations
    assert image.port() == 8000
    assert image.runtime.env()["DATA_DIR"] == "/data"


def test_the_real_dockerfiles_pass_the_hardening_checks() -> None:
    for service in checker.services():
        checker.check_dockerfile(checker.ServiceImage.load(service))


@pytest.mark.parametrize(
    ("old", "new", "finding"),
    [
        ("USER 10001:10001", "USER root", "non-root USER"),
        (
            "FROM python:3.11.15-slim-bookworm AS runtime",
            "FROM python:3.11-slim AS runtime",
            "pinned",
        ),
        ('CMD ["uvicorn", "app.main:app",', "CMD uvicorn app.main:app #", "exec (JSON) form"),
        ('CMD ["python", "-c", "import urllib.request;', CURL_HEALTHCHECK, "curl"),
        ("EXPOSE 8000", "EXPOSE 9000", "EXPOSE says 9000"),
    ],
)
def test_a_dockerfile_defect_is_named(tmp_path: Path, old: str, new: str, finding: str) -> None:
    image = _mutated(tmp_path, old, new)
    with pytest.raises(checker.CheckFailed, match=re.escape(finding)):
        checker.check_dockerfile(image)


def test_a_requirement_file_copied_but_never_installed_is_named(tmp_path: Path) -> None:
    image = _mutated(
        tmp_path, "--requirement requirements.txt --requirement requirements-test.txt", "-r x.txt"
    )
    with pytest.raises(checker.CheckFailed, match="no RUN uses it"):
        checker.check_dockerfile(image)


def test_dockerignore_keeps_sources_and_drops_data_caches_and_venvs() -> None:
    ignore = checker.DockerIgnore(ROOT / "microservices")
    for kept in (
        "accounts/app/main.py",
        "accounts/tests/test_health.py",
        "servicekit/pyproject.toml",
    ):
        assert not ignore.excluded(kept), kept
    for dropped in (
        "accounts/data/accounts/accounts.db",
        "accounts/app/__pycache__/main.cpython-311.pyc",
        "servicekit/servicekit.egg-info/PKG-INFO",
        "chat/.venv/bin/python",
        "payments/.env",
    ):
        assert ignore.excluded(dropped), dropped


def test_dockerignore_exceptions_bring_files_back(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("docs\n!docs/keep.md\n**/*.log\n")
    ignore = checker.DockerIgnore(tmp_path)
    assert ignore.excluded("docs/other.md")
    assert not ignore.excluded("docs/keep.md")
    assert ignore.excluded("svc/app/run.log")


def test_copy_layout_follows_dockers_directory_and_file_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "svc" / "app").mkdir(parents=True)
    (tmp_path / "svc" / "app" / "main.py").write_text("")
    (tmp_path / "svc" / "pytest.ini").write_text("")
    copies = [
        checker.Copy(["svc/app/"], "/srv/svc/app/", None),
        checker.Copy(["svc/pytest.ini"], "/srv/svc/", None),
        checker.Copy(["svc/pytest.ini"], "/srv/svc/renamed.ini", None),
    ]
    ignore = checker.DockerIgnore(tmp_path)
    monkeypatch.setattr(checker, "CONTEXT", tmp_path)
    placed = {str(target) for c in copies for _, target in checker.copy_layout(c, ignore)}
    assert placed == {"/srv/svc/app/main.py", "/srv/svc/pytest.ini", "/srv/svc/renamed.ini"}


def test_a_forgotten_copy_leaves_the_tests_out_of_the_image_layout(tmp_path: Path) -> None:
    image = _mutated(tmp_path, "COPY accounts/tests/ ./tests/\n", "")
    layout = tmp_path / "image"
    root = PurePosixPath(image.runtime.workdir())
    checker.materialize(image.runtime.copies(), root, layout, checker.DockerIgnore(checker.CONTEXT))
    assert (layout / "app" / "main.py").exists()
    assert not (layout / "tests").exists()


def test_a_forgotten_test_requirements_copy_leaves_pytest_out_of_the_venv(tmp_path: Path) -> None:
    image = _mutated(
        tmp_path,
        "COPY accounts/requirements.txt requirements-test.txt ./",
        "COPY accounts/requirements.txt ./",
    )
    inputs = checker.build_inputs(image, tmp_path / "build")
    assert [path.name for path in inputs.requirement_files] == ["requirements.txt"]
    assert [path.name for path in inputs.packages] == ["servicekit"]


def test_an_unpinned_requirement_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("fastapi==0.165.0\nuvicorn>=0.30\n")
    monkeypatch.setattr(checker, "ROOT", tmp_path)
    with pytest.raises(checker.CheckFailed, match=re.escape("uvicorn>=0.30")):
        checker.check_pinned(lock)


@pytest.mark.parametrize(
    ("key", "finding"),
    [
        ("read_only", "read_only"),
        ("cap_drop", "cap_drop"),
        ("security_opt", "no-new-privileges"),
        ("restart", "restart policy"),
        ("deploy", "limits"),
        ("container_name", "accounts-service"),
        ("volumes", "named volume"),
        ("env_file", ".env"),
    ],
)
def test_a_compose_service_missing_a_setting_is_named(
    compose: dict[str, Any], key: str, finding: str
) -> None:
    config = copy.deepcopy(compose)
    del config["services"]["accounts"][key]
    image = checker.ServiceImage.load("accounts")
    with pytest.raises(checker.CheckFailed, match=re.escape(finding)):
        checker.check_compose_service(config, "accounts", image)


def test_the_real_compose_file_passes_its_checks(compose: dict[str, Any]) -> None:
    images = {s: checker.ServiceImage.load(s) for s in checker.services()}
    for service, image in images.items():
        checker.check_compose_service(compose, service, image)
    checker.check_compose_gateway(compose, images)


def test_a_gateway_placeholder_without_a_value_is_named(compose: dict[str, Any]) -> None:
    config = copy.deepcopy(compose)
    del config["services"]["gateway"]["environment"]["GATEWAY_AUTH_BURST"]
    images = {s: checker.ServiceImage.load(s) for s in checker.services()}
    with pytest.raises(checker.CheckFailed, match="GATEWAY_AUTH_BURST"):
        checker.check_compose_gateway(config, images)


def test_a_gateway_that_starts_before_a_service_is_healthy_is_named(
    compose: dict[str, Any],
) -> None:
    config = copy.deepcopy(compose)
    config["services"]["gateway"]["depends_on"]["chat"]["condition"] = "service_started"
    images = {s: checker.ServiceImage.load(s) for s in checker.services()}
    with pytest.raises(checker.CheckFailed, match="chat with condition service_healthy"):
        checker.check_compose_gateway(config, images)


def test_a_gateway_that_resolves_a_service_only_once_is_named(compose: dict[str, Any]) -> None:
    config = copy.deepcopy(compose)
    config["services"]["gateway"]["environment"]["GATEWAY_RESUME_SERVERS"] = "server resume:8000;"
    images = {s: checker.ServiceImage.load(s) for s in checker.services()}
    with pytest.raises(checker.CheckFailed, match="resume:8000 with `resolve`"):
        checker.check_compose_gateway(config, images)


def test_a_gateway_without_dockers_dns_is_named(compose: dict[str, Any]) -> None:
    config = copy.deepcopy(compose)
    config["services"]["gateway"]["environment"]["GATEWAY_RESOLVER"] = "resolver 8.8.8.8;"
    images = {s: checker.ServiceImage.load(s) for s in checker.services()}
    with pytest.raises(checker.CheckFailed, match="Docker's DNS"):
        checker.check_compose_gateway(config, images)


def test_envsubst_leaves_nginx_variables_and_filtered_names_alone() -> None:
    rendered = checker.envsubst(
        "listen ${GATEWAY_LISTEN}; set $x ${HOME}; $http_upgrade",
        {"GATEWAY_LISTEN": "8080", "HOME": "/root"},
        "^GATEWAY_",
    )
    assert rendered == "listen 8080; set $x ${HOME}; $http_upgrade"
