# The one way to run things, for people and CI alike.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= .tblocal
PORT ?= 7181
DATAFILES := $(wildcard datasources/*.datasource) $(wildcard pipes/*.pipe)

.PHONY: setup serve test tb-local check fmt-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## setup: create .venv with every pinned dependency
setup: $(STAMP)

## serve: load fixtures/ into an empty data dir and serve on 127.0.0.1:$(PORT)
serve: setup
	$(BIN)/tblocal serve --data-dir $(DATA_DIR) --port $(PORT) --load-fixtures fixtures $(SERVE_ARGS)

## check: tb fmt --diff on every datafile (the Forward CLI's own formatter and parser); lists every file that differs
check: setup
	@rc=0; for f in $(DATAFILES); do $(TB) fmt --diff --no-color "$$f" || { echo "check: $$f differs from tb fmt" >&2; rc=1; }; done; exit $$rc

## tb-local: the Forward CLI's own local-build and local-test-run against a tblocal it starts (no Docker)
tb-local: setup
	$(BIN)/python scripts/with_tblocal.py $(MAKE) --no-print-directory local-build local-test-run

## test: datafile checks, the Forward CLI against tblocal, then the whole pytest suite (with Tinybird's SDKs)
test: check browser tb-local sdk-deps
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(DATA_DIR) $(SDK_VENV) node_modules

# ---------------------------------------------------------------- Tinybird's SDKs (tests/test_sdk_*.py)
# tinybird-sdk pins tinybird 4.x (ours is 5.0.3), so it and the earlier tinybird-python-sdk (they
# coexist) get a virtualenv of their own; the npm SDKs come from package-lock.json with npm ci.
SDK_VENV := .venv-sdk
SDK_PIP := tinybird-sdk==0.4.0 tinybird-python-sdk==0.3.7
SDK_STAMP := $(SDK_VENV)/.installed-tinybird-sdk-0.4.0-python-sdk-0.3.7
NODE_STAMP := node_modules/.installed-stamp

.PHONY: sdk-deps

$(SDK_STAMP):
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install --quiet --upgrade pip
	$(SDK_VENV)/bin/pip install --quiet $(SDK_PIP)
	touch $(SDK_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

## sdk-deps: .venv-sdk (tinybird-sdk, tinybird-python-sdk) and node_modules (@tinybirdco/sdk, mockingbird)
sdk-deps: $(SDK_STAMP) $(NODE_STAMP)

# ---------------------------------------------------------------- reliability: fuzz, soak
# schemathesis conflicts with tinybird-cli's pins (packaging<24...), so it lives in its
# own virtualenv; tests/test_fuzz.py runs a small seeded slice of it from `make test`.
FUZZ_VENV := .venv-fuzz
SCHEMATHESIS_VERSION := 4.32.5
FUZZ_STAMP := $(FUZZ_VENV)/.installed-$(SCHEMATHESIS_VERSION)
FUZZ_CASES ?= 2000
FUZZ_SEED ?= 20240601
FUZZ_ROUTE_CASES ?= 5000
SOAK_SECONDS ?= 120

.PHONY: fuzz soak fuzz-venv

$(FUZZ_STAMP):
	$(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet --upgrade pip
	$(FUZZ_VENV)/bin/pip install --quiet 'schemathesis==$(SCHEMATHESIS_VERSION)'
	touch $(FUZZ_STAMP)

## fuzz-venv: create .venv-fuzz with a pinned schemathesis
fuzz-venv: $(FUZZ_STAMP)

## fuzz: schemathesis against /v0/pipes/openapi.json of tests/project ($(FUZZ_CASES) cases), then every route with
## random and mutated parameters and bodies ($(FUZZ_ROUTE_CASES) cases); both seeded
fuzz: setup $(FUZZ_STAMP)
	$(FUZZ_VENV)/bin/python scripts/fuzz.py --cases $(FUZZ_CASES) --seed $(FUZZ_SEED) --start-server $(BIN)/python
	$(BIN)/python scripts/fuzz_routes.py --cases $(FUZZ_ROUTE_CASES) --seed $(FUZZ_SEED) --start-server

## soak: $(SOAK_SECONDS) s of mixed ingestion and queries on loopback; zero errors, flat RSS, p99
soak: setup
	$(BIN)/python scripts/soak.py --seconds $(SOAK_SECONDS)

# ---- CI/CD: the GitHub workflows call only these targets, so CI and people run the same steps.
# Targets that talk to Tinybird Cloud read TB_HOST and TB_TOKEN from the environment or the
# command line (`make deploy TB_HOST=... TB_TOKEN=...`); recipes use $$TB_TOKEN so make never
# echoes it. Targets that talk to Tinybird Local (the container, or tblocal on its port) drop
# TB_HOST/TB_TOKEN first: a TB_TOKEN would change which workspace `tb --local` picks.
TB := TB_CLI_TELEMETRY_OPTOUT=1 $(BIN)/tb --no-version-warning
TB_CLOUD := $(TB) --cloud --host "$$TB_HOST" --token "$$TB_TOKEN"
TB_LOCAL := env -u TB_HOST -u TB_TOKEN $(TB) --local
WORKFLOWS := .github/workflows/ci.yml .github/workflows/cd.yml
# Tinybird Local's address, read as the tb CLI reads it: TB_LOCAL_HOST (a host name, default
# localhost) and TB_LOCAL_PORT (default 7181).
TB_LOCAL_URL = http://$(or $(TB_LOCAL_HOST),localhost):$(or $(TB_LOCAL_PORT),7181)
# Tries (3 s apart) `local-wait` makes while the container starts.
TB_LOCAL_RETRIES ?= 60
# `local-test-run` fails unless `tb test run` reports N/N passed with N >= this (tests/*.yaml).
TB_TESTS_MIN ?= 6
# What `fmt-changed` diffs against (CI passes origin/<base branch>).
BASE_REF ?= origin/main
# NDJSON files appended to the landing data source by `load-fixtures`.
FIXTURES ?= $(sort $(wildcard fixtures/*.ndjson))
FIXTURES_DATASOURCE ?= user_events
# The regression suite; it targets TB_HOST/TB_TOKEN when both are set.
REGRESSION ?= $(wildcard tests/test_regression_*.py)
# Marker of the cases that only read (safe against production): `make smoke`.
SMOKE_MARK ?= readonly
# Extra `tb deploy` flags, e.g. DEPLOY_FLAGS=--allow-destructive-operations (drops data sources).
DEPLOY_FLAGS ?=

.PHONY: lint-workflows fmt-changed require-target local-wait local-version local-build local-test-run \
	local-workspace local-token load-fixtures test-remote deploy-check deploy deployments smoke forget-user

## lint-workflows: actionlint (with shellcheck on run: scripts) on both workflows
lint-workflows: setup
	$(BIN)/actionlint -no-color -oneline -shellcheck=$(BIN)/shellcheck -pyflakes= $(WORKFLOWS)

## fmt-changed: tb fmt --diff on the datafiles changed since BASE_REF
fmt-changed: setup
	@files="$$(git diff --name-only --diff-filter=ACMR '$(BASE_REF)...HEAD' -- 'datasources/*.datasource' 'pipes/*.pipe')" || exit 1; \
	if [ -z "$$files" ]; then echo "fmt-changed: no datafile changed since $(BASE_REF)"; exit 0; fi; \
	rc=0; for f in $$files; do echo "tb fmt --diff $$f"; $(TB) fmt --diff --no-color "$$f" || rc=1; done; exit $$rc

require-target:
	@if [ -z "$$TB_HOST" ] || [ -z "$$TB_TOKEN" ]; then \
		echo "Set TB_HOST and TB_TOKEN (environment or make TB_HOST=... TB_TOKEN=...)" >&2; exit 2; fi

## local-wait: wait until Tinybird Local (or tblocal) answers GET $(TB_LOCAL_URL)/tokens
local-wait:
	@curl -fsS -o /dev/null --retry $(TB_LOCAL_RETRIES) --retry-delay 3 --retry-all-errors --max-time 10 '$(TB_LOCAL_URL)/tokens' \
		|| { echo "local-wait: no answer from $(TB_LOCAL_URL)/tokens" >&2; exit 1; }

## local-version: the version Tinybird Local reports (GET /version)
local-version: setup
	@$(TB) local version

## local-build: tb --local build (datafiles into this folder's workspace, then fixtures/ into its empty data sources)
local-build: setup
	$(TB_LOCAL) build

## local-test-run: tb --local test run; fails unless it reports N/N passed, N >= $(TB_TESTS_MIN), none skipped
local-test-run: setup
	@log="$$(mktemp)"; trap 'rm -f "$$log"' EXIT; \
	$(TB_LOCAL) test run 2>&1 | tee "$$log"; rc="$${PIPESTATUS[0]}"; [ "$$rc" -eq 0 ] || exit "$$rc"; \
	n="$$(sed -nE 's/^(.*[^0-9])?([0-9]+)\/\2 passed$$/\2/p' "$$log" | tail -n 1)"; \
	if [ -z "$$n" ] || [ "$$n" -lt $(TB_TESTS_MIN) ]; then \
		echo "local-test-run: expected 'N/N passed' with N >= $(TB_TESTS_MIN) and nothing skipped" >&2; exit 1; fi

## local-workspace: name of the workspace `tb --local build` uses from this folder, and why (stderr)
local-workspace: setup
	@$(BIN)/python scripts/tb_local_workspace.py --name

## local-token: token of that workspace (the one `local-build` filled), for TB_TOKEN
local-token: setup
	@$(BIN)/python scripts/tb_local_workspace.py

## load-fixtures: append fixtures/*.ndjson to TB_HOST/TB_TOKEN (a new hosted workspace; build does this locally)
load-fixtures: setup require-target
	@test -n "$(FIXTURES)" || { echo "load-fixtures: no fixtures/*.ndjson" >&2; exit 1; }
	@for f in $(FIXTURES); do echo "append $$f -> $(FIXTURES_DATASOURCE)"; \
		$(BIN)/python scripts/ingest.py "$$f" --datasource $(FIXTURES_DATASOURCE) || exit 1; done

## test-remote: the regression suite against TB_HOST/TB_TOKEN (a workspace holding exactly fixtures/)
test-remote: setup require-target
	$(BIN)/pytest $(REGRESSION)

## deploy-check: tb --cloud deploy --check on TB_HOST/TB_TOKEN: validates the deployment, changes nothing
deploy-check: setup require-target
	$(TB_CLOUD) deploy --check $(DEPLOY_FLAGS)

## deploy: tb --cloud deploy on TB_HOST/TB_TOKEN: creates the deployment, waits for it, promotes it
deploy: setup require-target
	$(TB_CLOUD) deploy $(DEPLOY_FLAGS)

## deployments: tb --cloud deployment ls on TB_HOST/TB_TOKEN
deployments: setup require-target
	$(TB_CLOUD) deployment ls

## forget-user: remove USER_ID's events from user_events and every view of TB_HOST/TB_TOKEN (default: tblocal on 7181), then check
forget-user: setup
	@test -n "$$USER_ID" || { echo "forget-user: set USER_ID=<id> (one exact id, no pattern)" >&2; exit 2; }
	$(BIN)/python scripts/forget_user.py "$$USER_ID"

## smoke: the read-only regression cases (marker $(SMOKE_MARK)) against TB_HOST/TB_TOKEN
smoke: setup require-target
	$(BIN)/pytest -m $(SMOKE_MARK) $(REGRESSION)

# ---- performance: `make bench` (BENCH_EVENTS=10000000 for the full run). Installs wrk with apt
# (Debian's package) and the chart/profiling tools into .venv; not part of `make test`.
BENCH_EVENTS ?= 1000000
BENCH_ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: bench bench-deps

## browser: Debian's chromium for tests/test_dashboard.py (apt-get, with sudo when not root); without
## it those tests skip, except with CI=true, where they fail
.PHONY: browser
browser:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } \
		|| { echo "browser: could not install chromium: the dashboard's browser tests will skip (and fail with CI=true)" >&2; [ "$$CI" != true ]; }

## bench-deps: wrk (apt) and the bench's Python tools (chart, profilers)
bench-deps: setup
	@command -v wrk >/dev/null || $(SUDO) apt-get install -y wrk || { $(SUDO) apt-get update && $(SUDO) apt-get install -y wrk; }
	$(BIN)/pip install --quiet -e '.[test,bench]'

## bench: generate BENCH_EVENTS events, compare tblocal with plain chDB; bench/out/bench.{json,png,md}
bench: bench-deps
	PYTHONPATH=scripts $(BIN)/python -m benchmark --events $(BENCH_EVENTS) $(BENCH_ARGS)
