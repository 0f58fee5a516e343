# The two commands that matter: `make run` (the whole platform on 127.0.0.1:8080) and
# `make test` (every service's suite, the system tests through the real gateway, the checks).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench up down logs clean nginx venv lock

$(STAMP): requirements-dev.txt microservices/servicekit/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e microservices/servicekit
	touch $(STAMP)

venv: $(STAMP)

nginx:
	@scripts/ensure-nginx

run: venv nginx
	$(PY) -m devstack

test: venv nginx
	$(PY) scripts/run_tests.py

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# Re-pin every lock from the short input lists (needs network access to PyPI).
lock: venv
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile -q --python-version 3.11 requirements-dev.in -o requirements-dev.txt
	for s in accounts payments chat basement resume; do \
		(cd microservices/$$s && ../../$(VENV)/bin/uv pip compile -q --python-version 3.11 \
			--no-header -c ../../requirements-dev.txt requirements.in -o requirements.txt); \
	done
	cd microservices && ../$(VENV)/bin/uv pip compile -q --python-version 3.11 --no-header \
		-c ../requirements-dev.txt requirements-test.in -o requirements-test.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
