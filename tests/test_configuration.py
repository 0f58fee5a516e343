"""Every setting a service reads is documented in `.env.example`, as the README promises."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from devstack import SERVICES
from devstack.stack import ROOT, SERVICES_DIR

# Prints the environment variable behind every field of the service's Settings.
LIST_VARIABLES = """
import json
from app.settings import Settings
prefix = Settings.model_config.get("env_prefix", "")
names = []
for field_name, field in Settings.model_fields.items():
    alias = field.validation_alias
    names.append(alias if isinstance(alias, str) else (prefix + field_name).upper())
print(json.dumps(names))
"""


def documented_variables() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_of_the_service_is_in_env_example(service: str) -> None:
    output = subprocess.run(
        [sys.executable, "-c", LIST_VARIABLES],
        cwd=SERVICES_DIR / service,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    missing = sorted(set(json.loads(output)) - documented_variables())
    assert not missing, f"{service} reads settings that .env.example does not document: {missing}"
