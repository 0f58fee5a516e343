"""Prove the containers, the compose file and the workflows on a machine without a Docker engine.

``static``: hadolint on every service Dockerfile, the Dockerfiles' own invariants (pinned bases,
non-root user, exec-form CMD, a HEALTHCHECK that needs no curl), ``docker-compose config`` and the
compose file's invariants (names, volumes, health checks, limits, hardening), the gateway template
rendered with compose's values through ``nginx -t``, actionlint on the workflows, Dependabot
coverage, pinned requirement files, and the names the README tells users to type.

``parity SERVICE``: rebuild the service's image as a virtualenv. It holds only what the
Dockerfile's build stages copy (requirement files and local packages, through ``.dockerignore``)
and its runtime stage lays out only the files the Dockerfile copies under its WORKDIR. There the
service's tests run, then the Dockerfile's own CMD serves ``/healthz`` on 127.0.0.1 and the
Dockerfile's own HEALTHCHECK command must pass. A missing requirement or a forgotten ``COPY``
fails here rather than on a user's machine. The virtualenv is cached (``~/.cache/platform-parity``,
or ``PARITY_VENV_CACHE``) keyed by the requirement files' contents and the interpreter.

Everything is derived from the Dockerfiles, the compose file and the files on disk; services are
the directories of ``microservices/`` that hold a Dockerfile. Results go to a JUnit file so that
``scripts/run_tests.py`` can count them. The tools come from PyPI wheels (``make tools``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = ROOT / "microservices"
COMPOSE_FILE = ROOT / "docker-compose.micro.yml"
GATEWAY_TEMPLATE = ROOT / "gateway" / "nginx.conf"
ENV_EXAMPLE = ROOT / ".env.example"
WORKFLOWS = ROOT / ".github" / "workflows"
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
TOOLS_BIN = ROOT / ".tools" / "bin"
PARITY_DIR = ROOT / ".test-reports" / "parity"
# Parity virtualenvs outlive a checkout (CI clones afresh): they are keyed by their contents.
VENV_CACHE = Path(
    os.environ.get("PARITY_VENV_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "platform-parity"
)

GATEWAY_SERVICE = "gateway"
GATEWAY_TEMPLATE_TARGET = "/etc/nginx/templates/nginx.conf.template"
DOCKER_DNS = "127.0.0.11"
STARTUP_TIMEOUT = 60.0
_PLACEHOLDER = re.compile(r"\$\{([A-Z0-9_]+)\}")
_PINNED_TAG = re.compile(r"^[^:@]+:(?=[^:]*\d+\.\d+\.\d+)[\w.-]+$|@sha256:[0-9a-f]{64}$")


class CheckFailed(Exception):
    """A check's finding, phrased for the person who has to fix it."""


# --- results ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    seconds: float
    failure: str | None = None


@dataclass
class Report:
    """Named checks with their outcomes, printed as they run and written as a JUnit suite."""

    suite: str
    outcomes: list[Outcome] = field(default_factory=list)

    def check(self, name: str, function: Callable[[], None]) -> bool:
        """Run one check; a ``CheckFailed`` (or any error) fails only that check."""
        started = time.monotonic()
        failure: str | None = None
        try:
            function()
        except CheckFailed as exc:
            failure = str(exc)
        except Exception:
            failure = traceback.format_exc()
        self.outcomes.append(Outcome(name, time.monotonic() - started, failure))
        status = "ok" if failure is None else "FAILED"
        print(f"{status:>6}  {name}", flush=True)
        if failure is not None:
            print("        " + failure.rstrip().replace("\n", "\n        "), flush=True)
        return failure is None

    @property
    def failed(self) -> bool:
        return any(outcome.failure is not None for outcome in self.outcomes)

    def to_xml(self) -> ET.Element:
        """This report as one JUnit ``testsuite`` element."""
        failures = sum(1 for outcome in self.outcomes if outcome.failure is not None)
        suite = ET.Element(
            "testsuite",
            name=self.suite,
            tests=str(len(self.outcomes)),
            failures=str(failures),
            errors="0",
            skipped="0",
            time=f"{sum(outcome.seconds for outcome in self.outcomes):.3f}",
        )
        for outcome in self.outcomes:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=self.suite,
                name=outcome.name,
                time=f"{outcome.seconds:.3f}",
            )
            if outcome.failure is not None:
                ET.SubElement(
                    case, "failure", message=outcome.failure.splitlines()[0]
                ).text = outcome.failure
        return suite

    def write_junit(self, path: Path, *, append: bool = False) -> None:
        """Write (or add to an existing pytest report) this suite as JUnit XML."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if append and path.exists():
            tree = ET.parse(path)  # noqa: S314 - our own pytest's report
            root = tree.getroot()
            if root.tag == "testsuite":
                wrapper = ET.Element("testsuites")
                wrapper.append(root)
                root = wrapper
        else:
            root = ET.Element("testsuites")
        root.append(self.to_xml())
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


# --- tools -----------------------------------------------------------------------------------


def tool(name: str) -> str:
    """A checker binary: from the tools virtualenv (``make tools``), else from PATH."""
    candidate = TOOLS_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise CheckFailed(
            f"{name} is not installed: run `make tools` (installs requirements-tools.txt)"
        )
    return found


def run_tool(command: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """Run a checker; its non-zero exit is a finding that carries its output."""
    completed = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    output = (completed.stdout + completed.stderr).strip()
    if completed.returncode != 0:
        raise CheckFailed(f"`{' '.join(command)}` exited {completed.returncode}:\n{output}")
    return completed.stdout


# --- Dockerfiles -----------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    arguments: str
    flags: dict[str, str]
    line: int


@dataclass
class Copy:
    sources: list[str]
    destination: str  # absolute, resolved against the WORKDIR in effect
    from_stage: str | None


@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def workdir(self) -> str:
        """The WORKDIR in effect at the end of the stage."""
        return self._walk()[0]

    def copies(self) -> list[Copy]:
        """Every COPY/ADD, destinations resolved against the WORKDIR in effect at that line."""
        return self._walk()[1]

    def env(self) -> dict[str, str]:
        """The ENV the stage ends with."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            tokens = shlex.split(instruction.arguments)
            if tokens and "=" not in tokens[0]:
                values[tokens[0]] = " ".join(tokens[1:])
                continue
            for token in tokens:
                key, _, value = token.partition("=")
                values[key] = value
        return values

    def _walk(self) -> tuple[str, list[Copy]]:
        workdir = "/"
        copies: list[Copy] = []
        for instruction in self.instructions:
            if "$" in instruction.arguments and instruction.keyword in {"WORKDIR", "COPY", "ADD"}:
                raise CheckFailed(
                    f"line {instruction.line}: variables in {instruction.keyword} are not "
                    "supported by the parity check; write the path out"
                )
            if instruction.keyword == "WORKDIR":
                workdir = str(PurePosixPath(workdir) / instruction.arguments.strip())
            elif instruction.keyword in {"COPY", "ADD"}:
                text = instruction.arguments.strip()
                parts = json.loads(text) if text.startswith("[") else shlex.split(text)
                *sources, destination = parts
                absolute = str(PurePosixPath(workdir) / destination)
                if destination.endswith("/"):
                    absolute += "/"
                copies.append(Copy(sources, absolute, instruction.flags.get("from")))
        return workdir, copies


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Instructions with their continuation lines joined; comments and blank lines dropped."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        yield start, " ".join(part for part in pending if part)
        pending = []
    if pending:
        yield start, " ".join(pending)


def parse_dockerfile(path: Path) -> list[Stage]:
    """The build stages of a Dockerfile, in order."""
    stages: list[Stage] = []
    for line, logical in _logical_lines(path.read_text()):
        keyword, _, rest = logical.partition(" ")
        keyword = keyword.upper()
        flags: dict[str, str] = {}
        rest = rest.strip()
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            name, _, value = flag[2:].partition("=")
            flags[name] = value
            rest = rest.strip()
        if keyword == "FROM":
            words = rest.split()
            alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(name=alias, base=words[0]))
            continue
        if keyword == "ARG" and not stages:
            continue
        if not stages:
            raise CheckFailed(f"{path}:{line}: {keyword} before the first FROM")
        stages[-1].instructions.append(Instruction(keyword, rest, flags, line))
    if not stages:
        raise CheckFailed(f"{path} has no FROM")
    return stages


def exec_form(instruction: Instruction | None, what: str) -> list[str]:
    """The JSON (exec) form of CMD / HEALTHCHECK CMD: signals reach the process, no shell."""
    if instruction is None:
        raise CheckFailed(f"the runtime stage has no {what}")
    text = instruction.arguments.strip()
    if instruction.keyword == "HEALTHCHECK":
        if text.upper() == "NONE":
            raise CheckFailed("HEALTHCHECK NONE: compose waits for every service to be healthy")
        if not text.upper().startswith("CMD"):
            raise CheckFailed(f"line {instruction.line}: HEALTHCHECK without CMD")
        text = text[3:].strip()
    try:
        command = json.loads(text)
    except json.JSONDecodeError:
        command = None
    if not isinstance(command, list) or not all(isinstance(part, str) for part in command):
        raise CheckFailed(f"line {instruction.line}: {what} must use the exec (JSON) form")
    return [str(part) for part in command]


def option_value(command: list[str], option: str) -> str | None:
    """The value of ``--option value`` or ``--option=value`` in a command line."""
    for index, part in enumerate(command):
        if part == option and index + 1 < len(command):
            return command[index + 1]
        if part.startswith(option + "="):
            return part.split("=", 1)[1]
    return None


def replace_option(command: list[str], option: str, value: str) -> list[str]:
    """The command with ``option``'s value replaced (added when absent)."""
    result = list(command)
    for index, part in enumerate(result):
        if part == option and index + 1 < len(result):
            result[index + 1] = value
            return result
        if part.startswith(option + "="):
            result[index] = f"{option}={value}"
            return result
    return [*result, option, value]


@dataclass
class ServiceImage:
    """What a service's Dockerfile says about its image."""

    service: str
    dockerfile: Path
    stages: list[Stage]

    @classmethod
    def load(cls, service: str) -> ServiceImage:
        dockerfile = CONTEXT / service / "Dockerfile"
        return cls(service, dockerfile, parse_dockerfile(dockerfile))

    @property
    def runtime(self) -> Stage:
        return self.stages[-1]

    @property
    def build_stages(self) -> list[Stage]:
        return self.stages[:-1]

    def command(self) -> list[str]:
        return exec_form(self.runtime.last("CMD"), "CMD")

    def healthcheck(self) -> list[str]:
        return exec_form(self.runtime.last("HEALTHCHECK"), "HEALTHCHECK")

    def port(self) -> int:
        """The port the container serves on: its EXPOSE, which CMD's --port must match."""
        exposed = [i.arguments.split()[0].split("/")[0] for i in self.runtime.all("EXPOSE")]
        if len(exposed) != 1:
            raise CheckFailed(f"{self.dockerfile}: expected exactly one EXPOSE, found {exposed}")
        port = int(exposed[0])
        cmd_port = option_value(self.command(), "--port")
        if cmd_port != str(port):
            raise CheckFailed(f"CMD listens on --port {cmd_port}, EXPOSE says {port}")
        return port


def services() -> list[str]:
    """Every directory of microservices/ with a Dockerfile."""
    return sorted(path.parent.name for path in CONTEXT.glob("*/Dockerfile"))


# --- build context (.dockerignore) -----------------------------------------------------------


class DockerIgnore:
    """The build context's exclusion rules, matched like Docker's pattern matcher."""

    def __init__(self, context: Path) -> None:
        self.rules: list[tuple[re.Pattern[str], bool]] = []
        path = context / ".dockerignore"
        lines = path.read_text().splitlines() if path.exists() else []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            self.rules.append((re.compile(self._regex(pattern)), include))

    @staticmethod
    def _regex(pattern: str) -> str:
        out = ""
        index = 0
        while index < len(pattern):
            char = pattern[index]
            if pattern.startswith("**/", index):
                out += "(?:.*/)?"
                index += 3
                continue
            if pattern.startswith("**", index):
                out += ".*"
                index += 2
                continue
            out += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
            index += 1
        return f"^{out}$"

    def excluded(self, relative: str) -> bool:
        """Whether a context path (or one of its parent directories) is left out."""
        parts = relative.split("/")
        candidates = ["/".join(parts[: depth + 1]) for depth in range(len(parts))]
        excluded = False
        for regex, include in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                excluded = not include
        return excluded

    def files(self, context: Path, source: str) -> list[tuple[Path, str]]:
        """Files a COPY source brings from the context: (file, path relative to the source)."""
        matches = sorted(context.glob(source)) if any(c in source for c in "*?[") else []
        roots = matches or [context / source]
        found: list[tuple[Path, str]] = []
        for root in roots:
            if not root.exists() or self.excluded(root.relative_to(context).as_posix()):
                raise CheckFailed(f"COPY source {source!r} is not in the build context")
            if root.is_file():
                found.append((root, root.name))
                continue
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(context).as_posix()
                if path.is_file() and not self.excluded(relative):
                    found.append((path, path.relative_to(root).as_posix()))
        return found


def copy_layout(copy: Copy, ignore: DockerIgnore) -> list[tuple[Path, PurePosixPath]]:
    """Each file a COPY puts in the image, with its absolute path there (Docker's rules)."""
    placed: list[tuple[Path, PurePosixPath]] = []
    several = len(copy.sources) > 1 or any(c in s for s in copy.sources for c in "*?[")
    for source in copy.sources:
        source_path = CONTEXT / source
        for file, relative in ignore.files(CONTEXT, source):
            if source_path.is_dir():
                target = PurePosixPath(copy.destination) / relative
            elif copy.destination.endswith("/") or several:
                target = PurePosixPath(copy.destination) / file.name
            else:
                target = PurePosixPath(copy.destination)
            placed.append((file, target))
    return placed


def materialize(copies: list[Copy], root: PurePosixPath, into: Path, ignore: DockerIgnore) -> int:
    """Recreate under ``into`` the files these COPYs put below ``root`` in the image."""
    count = 0
    for copy in copies:
        if copy.from_stage:
            continue
        for file, target in copy_layout(copy, ignore):
            if not target.is_relative_to(root):
                continue
            destination = into / target.relative_to(root)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, destination)
            count += 1
    return count


# --- compose ---------------------------------------------------------------------------------


def compose_config() -> dict[str, Any]:
    """The compose file as Compose itself normalizes it, with .env.example as the settings.

    ``--no-env-resolution`` keeps a developer's own ``.env`` out of the answer.
    """
    output = run_tool(
        [
            tool("docker-compose"),
            "--env-file",
            str(ENV_EXAMPLE),
            "-f",
            str(COMPOSE_FILE),
            "config",
            "--format",
            "json",
            "--no-env-resolution",
        ],
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")},
    )
    config: dict[str, Any] = json.loads(output)
    return config


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a dotenv file (comments and blanks ignored)."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


def service_environment(config: dict[str, Any], service: str) -> dict[str, str]:
    """What compose gives a service: .env.example, then the service's ``environment``."""
    values = read_env_file(ENV_EXAMPLE)
    environment = config["services"][service].get("environment") or {}
    values.update({key: str(value) for key, value in environment.items() if value is not None})
    return values


def envsubst(template: str, variables: dict[str, str], name_filter: str) -> str:
    """Render like the Nginx image: only set variables matching the filter are replaced."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables and re.search(name_filter, name):
            return variables[name]
        return match.group(0)

    return _PLACEHOLDER.sub(substitute, template)


# --- static checks ---------------------------------------------------------------------------


def check_dockerfile(image: ServiceImage) -> None:
    """The invariants of a hardened service image that hadolint does not know about."""
    problems: list[str] = []
    for stage in image.stages:
        if not _PINNED_TAG.search(stage.base):
            problems.append(f"base image {stage.base!r} is not pinned to an x.y.z tag or digest")
    if len(image.stages) < 2:
        problems.append("not multi-stage: build the wheels in a stage of their own")
    user = image.runtime.last("USER")
    if user is None or user.arguments.split(":")[0] in {"0", "root"}:
        problems.append("the runtime stage must end as a non-root USER")
    command = image.command()
    healthcheck = image.healthcheck()
    if any(word in " ".join(healthcheck) for word in ("curl", "wget")):
        problems.append("HEALTHCHECK must not need curl or wget (the image has neither)")
    if option_value(command, "--host") != "0.0.0.0":  # noqa: S104 - the container's interface
        problems.append("CMD must listen on --host 0.0.0.0 inside the container")
    image.port()
    for stage in image.build_stages:
        for copy in stage.copies():
            for source in copy.sources:
                target = PurePosixPath(copy.destination.rstrip("/"))
                name = target.name if not copy.destination.endswith("/") else Path(source).name
                if not any(name in run.arguments for run in stage.all("RUN")):
                    problems.append(
                        f"{source!r} is copied into stage {stage.name} but no RUN uses it"
                    )
    if problems:
        raise CheckFailed("\n".join(problems))


def check_pinned(path: Path) -> None:
    """Every requirement line of a lock is ``name==version``."""
    loose = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(("-c", "-r", "--")):
            continue
        requirement = line.split(";", 1)[0].split("\\", 1)[0].strip()
        if not re.fullmatch(r"[A-Za-z0-9._\[\],-]+==[A-Za-z0-9.+!-]+", requirement):
            loose.append(requirement)
    if loose:
        raise CheckFailed(f"{path.relative_to(ROOT)} has requirements not pinned with ==: {loose}")


def check_compose_service(config: dict[str, Any], service: str, image: ServiceImage) -> None:
    """One service's container: build, names, data volume, settings and hardening."""
    spec = config["services"].get(service)
    if spec is None:
        raise CheckFailed(f"docker-compose.micro.yml has no service {service!r}")
    problems: list[str] = []
    build = spec.get("build") or {}
    if Path(build.get("context", "")).resolve() != CONTEXT or build.get("dockerfile") != (
        f"{service}/Dockerfile"
    ):
        problems.append(f"build must be context microservices/, dockerfile {service}/Dockerfile")
    if spec.get("container_name") != f"{service}-service":
        problems.append(f"container_name must be {service}-service (the README's docker exec)")
    environment = spec.get("environment") or {}
    data_dir = environment.get("DATA_DIR") or image.runtime.env().get("DATA_DIR")
    volumes = spec.get("volumes") or []
    named = [v for v in volumes if v.get("type") == "volume" and v.get("target") == data_dir]
    if not data_dir or not named or named[0].get("source") not in (config.get("volumes") or {}):
        problems.append(f"DATA_DIR ({data_dir}) must be a named volume declared under volumes:")
    env_files = spec.get("env_file") or []
    if not any(
        Path(f.get("path", "")).name == ".env" and not f.get("required", True) for f in env_files
    ):
        problems.append("settings must come from .env (env_file, required: false)")
    problems.extend(_hardening_problems(spec))
    if problems:
        raise CheckFailed("\n".join(problems))


def _hardening_problems(spec: dict[str, Any]) -> list[str]:
    problems = []
    if spec.get("restart") not in {"always", "unless-stopped", "on-failure"}:
        problems.append("needs a restart policy")
    if spec.get("read_only") is not True:
        problems.append("root filesystem must be read_only")
    if not any(str(t).split(":")[0] == "/tmp" for t in spec.get("tmpfs") or []):  # noqa: S108
        problems.append("needs a tmpfs on /tmp")
    if "no-new-privileges:true" not in (spec.get("security_opt") or []):
        problems.append("security_opt must include no-new-privileges:true")
    if "ALL" not in (spec.get("cap_drop") or []):
        problems.append("cap_drop must be ALL")
    limits = ((spec.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    if not limits.get("cpus") or not limits.get("memory"):
        problems.append("needs cpu and memory limits (deploy.resources.limits)")
    return problems


def check_compose_gateway(config: dict[str, Any], images: dict[str, ServiceImage]) -> None:
    """The gateway: pinned official Nginx rendering gateway/nginx.conf, in front of everyone."""
    spec = config["services"].get(GATEWAY_SERVICE)
    if spec is None:
        raise CheckFailed("docker-compose.micro.yml has no gateway service")
    problems = _hardening_problems(spec)
    image = str(spec.get("image", ""))
    if not image.startswith("nginx:") or not _PINNED_TAG.search(image):
        problems.append(f"gateway image {image!r} must be the official nginx, pinned x.y.z")
    if spec.get("container_name") != GATEWAY_SERVICE:
        problems.append("gateway container_name must be gateway")
    if not any(str(p.get("published")) == "8080" for p in spec.get("ports") or []):
        problems.append("gateway must publish port 8080")
    mounts = [v for v in spec.get("volumes") or [] if v.get("target") == GATEWAY_TEMPLATE_TARGET]
    if not mounts or Path(mounts[0].get("source", "")).resolve() != GATEWAY_TEMPLATE:
        problems.append(f"gateway/nginx.conf must be mounted at {GATEWAY_TEMPLATE_TARGET}")
    depends = spec.get("depends_on") or {}
    for service in images:
        if (depends.get(service) or {}).get("condition") != "service_healthy":
            problems.append(f"gateway must depend on {service} with condition service_healthy")
    environment = {k: str(v) for k, v in (spec.get("environment") or {}).items()}
    needed = sorted(set(_PLACEHOLDER.findall(GATEWAY_TEMPLATE.read_text())))
    missing = [name for name in needed if name not in environment]
    if missing:
        problems.append(f"gateway environment lacks template placeholders: {missing}")
    for service, service_image in images.items():
        servers = environment.get(f"GATEWAY_{service.upper()}_SERVERS", "")
        if f"server {service}:{service_image.port()} resolve;" not in servers:
            problems.append(
                f"GATEWAY_{service.upper()}_SERVERS must name {service}:{service_image.port()}"
                " with `resolve` (a restarted container gets a new address)"
            )
    if DOCKER_DNS not in environment.get("GATEWAY_RESOLVER", ""):
        problems.append(f"GATEWAY_RESOLVER must use Docker's DNS ({DOCKER_DNS})")
    if problems:
        raise CheckFailed("\n".join(problems))


def check_gateway_renders(config: dict[str, Any]) -> None:
    """gateway/nginx.conf rendered with compose's values is a config `nginx -t` accepts.

    Service names become 127.0.0.1 (nothing resolves them here), which also drops their
    ``resolve`` (an address needs none, and the Nginx here may predate it), and the container's
    /tmp paths a temporary directory; every other value is exactly what the container gets.
    """
    spec = config["services"][GATEWAY_SERVICE]
    variables = {k: str(v) for k, v in (spec.get("environment") or {}).items()}
    name_filter = variables.get("NGINX_ENVSUBST_FILTER", "")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise CheckFailed("nginx is not installed: run `make nginx`")
    with tempfile.TemporaryDirectory(prefix="gateway-") as temporary:
        for key, value in variables.items():
            value = re.sub(
                r"server [A-Za-z0-9_-]+:(\d+)(?: resolve)?;", r"server 127.0.0.1:\1;", value
            )
            variables[key] = value.replace("/tmp", temporary)  # noqa: S108 - the container's
        rendered = envsubst(GATEWAY_TEMPLATE.read_text(), variables, name_filter)
        left = sorted(set(_PLACEHOLDER.findall(rendered)))
        if left:
            raise CheckFailed(f"placeholders the gateway container would leave unrendered: {left}")
        config_path = Path(temporary) / "nginx.conf"
        config_path.write_text(rendered)
        run_tool([nginx, "-t", "-q", "-p", temporary, "-c", str(config_path)])


def check_readme(config: dict[str, Any]) -> None:
    """The container names and compose files the README tells people to use exist."""
    readme = (ROOT / "README.md").read_text()
    containers = {spec.get("container_name") for spec in config["services"].values()}
    problems = [
        f"README says `docker exec {name}` but compose has no such container"
        for name in sorted(set(re.findall(r"docker exec (?:-\w+ )*([\w.-]+)", readme)))
        if name not in containers
    ]
    problems += [
        f"README names compose file {name} which does not exist"
        for name in sorted(set(re.findall(r"docker compose -f ([\w./-]+)", readme)))
        if not (ROOT / name).exists()
    ]
    makefile = (ROOT / "Makefile").read_text()
    for target in ("up", "down", "logs"):
        body = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
        if body is None or "COMPOSE" not in body.group(1):
            problems.append(f"Makefile target {target!r} must wrap docker compose")
    if problems:
        raise CheckFailed("\n".join(problems))


def check_dependabot() -> None:
    """Dependabot watches every pip lock, every Dockerfile, the compose file and the Actions."""
    config = yaml.safe_load(DEPENDABOT.read_text())
    covered: dict[str, set[str]] = {}
    for update in config.get("updates", []):
        directories = update.get("directories") or [update.get("directory")]
        covered.setdefault(update["package-ecosystem"], set()).update(
            "/" + str(d).strip("/") for d in directories if d
        )
    wanted = {
        "pip": {
            "/" + p.parent.relative_to(ROOT).as_posix() if p.parent != ROOT else "/"
            for p in ROOT.glob("**/requirements*.txt")
            if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
        },
        "docker": {
            "/" + p.parent.relative_to(ROOT).as_posix() for p in CONTEXT.glob("*/Dockerfile")
        },
        "docker-compose": {"/"},
        "github-actions": {"/"},
    }
    missing = [
        f"{ecosystem}: {directory}"
        for ecosystem, directories in wanted.items()
        for directory in sorted(directories - covered.get(ecosystem, set()))
    ]
    if missing:
        raise CheckFailed(f".github/dependabot.yml does not watch: {missing}")


def hadolint(dockerfile: Path) -> None:
    """hadolint's findings; a deliberate exception is a justified inline ``# hadolint ignore``."""
    run_tool([tool("hadolint"), "--no-color", str(dockerfile)])


def actionlint() -> None:
    """actionlint over every workflow, with ShellCheck from the tools virtualenv on PATH."""
    workflows = sorted(WORKFLOWS.glob("*.y*ml"))
    if not workflows:
        raise CheckFailed("no workflow in .github/workflows")
    env = dict(os.environ, PATH=f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    run_tool([tool("actionlint"), "-no-color", *map(str, workflows)], env=env)


def static_checks(report: Report) -> None:
    """Every check that needs no virtualenv."""
    images: dict[str, ServiceImage] = {}
    for service in services():
        report.check(
            f"hadolint {service}/Dockerfile", partial(hadolint, CONTEXT / service / "Dockerfile")
        )
        if report.check(f"{service}/Dockerfile parses", partial(_load_into, images, service)):
            report.check(f"{service} image is hardened", partial(check_dockerfile, images[service]))
    locks = [CONTEXT / s / "requirements.txt" for s in services()]
    for lock in [*locks, CONTEXT / "requirements-test.txt"]:
        report.check(f"{lock.relative_to(ROOT)} is pinned", partial(check_pinned, lock))
    configs: list[dict[str, Any]] = []
    if report.check(
        "docker-compose config accepts docker-compose.micro.yml",
        lambda: configs.append(compose_config()),
    ):
        config = configs[0]
        for service, image in images.items():
            report.check(
                f"compose {service}", partial(check_compose_service, config, service, image)
            )
        report.check("compose gateway", partial(check_compose_gateway, config, images))
        report.check(
            "gateway template renders for compose and passes nginx -t",
            partial(check_gateway_renders, config),
        )
        report.check(
            "README names what compose and the Makefile provide", partial(check_readme, config)
        )
    report.check("actionlint .github/workflows", actionlint)
    report.check("dependabot covers pip, docker, compose and actions", check_dependabot)


def _load_into(images: dict[str, ServiceImage], service: str) -> None:
    images[service] = ServiceImage.load(service)


def _raise(exc: Exception) -> None:
    raise exc


# --- parity ----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _python_for(image: ServiceImage) -> str:
    """An interpreter with the image's Python minor version, else this one."""
    match = re.search(r"python:(\d+)\.(\d+)", image.runtime.base)
    if match:
        wanted = f"python{match.group(1)}.{match.group(2)}"
        if f"{sys.version_info.major}.{sys.version_info.minor}" == wanted[6:]:
            return sys.executable
        found = shutil.which(wanted)
        if found:
            return found
        print(f"        note: {wanted} not found; the parity venv uses {sys.version.split()[0]}")
    return sys.executable


@dataclass
class BuildInputs:
    requirement_files: list[Path]
    packages: list[Path]


def build_inputs(image: ServiceImage, into: Path) -> BuildInputs:
    """What the build stages copy, materialized through .dockerignore into ``into``."""
    ignore = DockerIgnore(CONTEXT)
    inputs = BuildInputs([], [])
    for index, stage in enumerate(image.build_stages):
        stage_dir = into / f"stage-{index}"
        materialize(stage.copies(), PurePosixPath("/"), stage_dir, ignore)
        for copy in stage.copies():
            if copy.from_stage:
                continue
            for file, target in copy_layout(copy, ignore):
                local = stage_dir / target.relative_to("/")
                if re.fullmatch(r"requirements[\w.-]*\.txt", file.name):
                    inputs.requirement_files.append(local)
            for source in copy.sources:
                if (CONTEXT / source / "pyproject.toml").exists():
                    target = PurePosixPath(copy.destination)
                    inputs.packages.append(stage_dir / target.relative_to("/"))
    if not inputs.requirement_files:
        raise CheckFailed("the build stages copy no requirements*.txt")
    return inputs


def _pip(python: Path, *args: str) -> None:
    run_tool([str(python), "-m", "pip", "--disable-pip-version-check", "-q", *args])


def parity_venv(image: ServiceImage, inputs: BuildInputs, python: str) -> Path:
    """A virtualenv with exactly the image's packages (cached by the requirement files)."""
    digest = hashlib.sha256(sys.version.encode() + python.encode())
    for path in sorted(inputs.requirement_files, key=lambda p: p.name):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    venv = VENV_CACHE / f"{image.service}-{digest.hexdigest()[:16]}"
    if not (venv / ".complete").exists():
        for stale in VENV_CACHE.glob(f"{image.service}-*"):
            shutil.rmtree(stale)
        run_tool([python, "-m", "venv", str(venv)])
        requirements = [arg for path in inputs.requirement_files for arg in ("-r", str(path))]
        _pip(venv / "bin" / "python", "install", *requirements)
        # The image has no setuptools either (its runtime stage removes it).
        _pip(venv / "bin" / "python", "uninstall", "--yes", "setuptools", "wheel")
        (venv / ".complete").write_text("")
    return venv


def install_packages(venv: Path, packages: list[Path], scratch: Path) -> None:
    """Install the local packages (servicekit) as wheels, without deps: the locks must hold them."""
    wheels = scratch / "wheels"
    for package in packages:
        run_tool(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "-w",
                str(wheels),
                str(package),
            ]
        )
    built = sorted(str(path) for path in wheels.glob("*.whl"))
    if built:
        _pip(venv / "bin" / "python", "install", "--no-deps", "--force-reinstall", *built)
    run_tool([str(venv / "bin" / "python"), "-m", "pip", "check"])


def runtime_environment(image: ServiceImage, venv: Path, data_dir: Path) -> dict[str, str]:
    """The Dockerfile's ENV plus compose's settings, with every address on this machine."""
    environment = image.runtime.env()
    try:
        config = compose_config()
        environment.update(service_environment(config, image.service))
        hosts = "|".join(re.escape(name) for name in config["services"])
        closed = free_port()
        for key, value in environment.items():
            environment[key] = re.sub(rf"://(?:{hosts}):\d+", f"://127.0.0.1:{closed}", value)
    except CheckFailed as exc:
        print(
            f"        note: compose settings unavailable ({exc}); using the Dockerfile's ENV only"
        )
    for key, value in environment.items():
        if "SECRET" in key and not value:
            environment[key] = secrets.token_hex(32)
    environment["DATA_DIR"] = str(data_dir)
    for passthrough in ("HOME", "LANG", "CI", "TEST_POSTGRES_URL", "TEST_REDIS_URL", "TMPDIR"):
        if passthrough in os.environ:
            environment[passthrough] = os.environ[passthrough]
    environment["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    environment["VIRTUAL_ENV"] = str(venv)
    return environment


def _http_get(url: str) -> tuple[int, bytes] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, ValueError):
        return None


def serve_and_probe(
    image: ServiceImage, workdir: Path, environment: dict[str, str], log_path: Path, report: Report
) -> None:
    """Start the image's CMD on 127.0.0.1, probe /healthz and the HEALTHCHECK, stop it."""
    container_port = image.port()
    port = free_port()
    command = replace_option(image.command(), "--host", "127.0.0.1")
    command = replace_option(command, "--port", str(port))
    executable = shutil.which(command[0], path=environment["PATH"])
    if executable is None:
        raise CheckFailed(f"CMD's {command[0]!r} is not installed in the image's virtualenv")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [executable, *command[1:]],
            cwd=workdir,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:

        def healthz() -> None:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while time.monotonic() < deadline:
                answer = _http_get(f"http://127.0.0.1:{port}/healthz")
                if answer is not None:
                    status, body = answer
                    if status != 200 or json.loads(body) != {"status": "ok"}:
                        raise CheckFailed(f"/healthz answered {status}: {body[:200]!r}")
                    return
                if process.poll() is not None:
                    raise CheckFailed(
                        f"the CMD exited with {process.returncode}:\n{_tail(log_path)}"
                    )
                time.sleep(0.1)
            raise CheckFailed(
                f"no answer on /healthz after {STARTUP_TIMEOUT:.0f}s:\n{_tail(log_path)}"
            )

        if not report.check(
            f"{image.service}: CMD serves /healthz ({shlex.join(image.command())})", healthz
        ):
            return

        def healthcheck() -> None:
            probe = image.healthcheck()
            probe = [part.replace(f":{container_port}", f":{port}") for part in probe]
            executable = shutil.which(probe[0], path=environment["PATH"]) or probe[0]
            run_tool([executable, *probe[1:]], cwd=workdir, env=environment)

        report.check(f"{image.service}: HEALTHCHECK command passes", healthcheck)

        def graceful_stop() -> None:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=20)
            except subprocess.TimeoutExpired as exc:
                raise CheckFailed(
                    "still running 20s after SIGTERM (docker stop would kill it)"
                ) from exc
            # Uvicorn re-raises the signal once shut down, so -SIGTERM is a clean exit too.
            if code not in (0, -signal.SIGTERM):
                raise CheckFailed(f"exited {code} on SIGTERM:\n{_tail(log_path)}")
            if "Application shutdown complete" not in log_path.read_text(errors="replace"):
                raise CheckFailed(f"exited without a complete shutdown:\n{_tail(log_path)}")

        report.check(f"{image.service}: stops cleanly on SIGTERM", graceful_stop)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def parity(service: str, junit: Path, pytest_args: list[str]) -> int:
    """Rebuild one service's image as a virtualenv, run its tests and its CMD there."""
    report = Report(f"{service}-image-parity")
    image_holder: list[ServiceImage] = []
    report.check(
        f"{service}: Dockerfile parses", lambda: image_holder.append(ServiceImage.load(service))
    )
    if not image_holder:
        report.write_junit(junit)
        return 1
    image = image_holder[0]
    PARITY_DIR.mkdir(parents=True, exist_ok=True)
    junit.unlink(missing_ok=True)
    tests_ran = False
    with tempfile.TemporaryDirectory(prefix=f"parity-{service}-") as temporary:
        scratch = Path(temporary)
        workdir = scratch / "image" / image.runtime.workdir().lstrip("/")
        data_dir = scratch / "data"
        data_dir.mkdir()
        venvs: list[Path] = []
        environment: dict[str, str] = {}

        def build() -> None:
            inputs = build_inputs(image, scratch / "build")
            venv = parity_venv(image, inputs, _python_for(image))
            install_packages(venv, inputs.packages, scratch)
            venvs.append(venv)

        def layout() -> None:
            ignore = DockerIgnore(CONTEXT)
            root = PurePosixPath(image.runtime.workdir())
            if materialize(image.runtime.copies(), root, workdir, ignore) == 0:
                raise CheckFailed(f"the runtime stage copies nothing into its WORKDIR {root}")

        ok = report.check(f"{service}: virtualenv from the image's requirements only", build)
        ok = (
            report.check(
                f"{service}: files the Dockerfile copies, laid out as in the image", layout
            )
            and ok
        )
        if ok:
            environment = runtime_environment(image, venvs[0], data_dir)
            command = [
                str(venvs[0] / "bin" / "python"), "-m", "pytest", "-q", f"--junitxml={junit}",
                *pytest_args, "tests/",
            ]  # fmt: skip
            print(f"\n--- {service} tests in the image layout ({workdir})", flush=True)
            returncode = subprocess.run(
                command, cwd=workdir, env=environment, check=False
            ).returncode
            tests_ran = True
            if returncode != 0:
                report.check(
                    f"{service}: tests pass in the image layout",
                    lambda: _raise(CheckFailed(f"pytest exited {returncode}")),
                )
            serve_and_probe(
                image, workdir, environment, PARITY_DIR / f"{service}-serve.log", report
            )
    report.write_junit(junit, append=tests_ran)
    return 1 if report.failed else 0


# --- entry point -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``static`` or ``parity SERVICE``; exits non-zero when any check failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    static = commands.add_parser("static", help="lint Dockerfiles, compose and workflows")
    static.add_argument("--junitxml", type=Path, default=ROOT / ".test-reports" / "containers.xml")
    parity_parser = commands.add_parser("parity", help="a service's image, rebuilt as a virtualenv")
    parity_parser.add_argument("service", choices=services())
    parity_parser.add_argument("--junitxml", type=Path)
    parity_parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    if args.command == "static":
        report = Report("containers")
        static_checks(report)
        report.write_junit(args.junitxml)
        return 1 if report.failed else 0
    junit = args.junitxml or ROOT / ".test-reports" / f"{args.service}.xml"
    return parity(args.service, junit.resolve(), args.pytest_args)


if __name__ == "__main__":
    sys.exit(main())
