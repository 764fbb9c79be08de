# The one way to run things, for people and CI alike.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= .tblocal
PORT ?= 7181
DATAFILES := $(wildcard datasources/*.datasource) $(wildcard pipes/*.pipe)

.PHONY: setup serve test check fmt-check clean

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

## check: tb fmt --diff on every datafile (the Forward CLI's own formatter and parser)
check: setup
	@for f in $(DATAFILES); do TB_CLI_TELEMETRY_OPTOUT=1 $(BIN)/tb --no-version-warning fmt --diff --no-color $$f || exit 1; done

## test: datafile checks, then the whole pytest suite against tblocal
test: check browser
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(DATA_DIR)

# ---------------------------------------------------------------- reliability: fuzz, soak
# schemathesis conflicts with tinybird-cli's pins (packaging<24...), so it lives in its
# own virtualenv; tests/test_fuzz.py runs a small seeded slice of it from `make test`.
FUZZ_VENV := .venv-fuzz
SCHEMATHESIS_VERSION := 4.32.5
FUZZ_STAMP := $(FUZZ_VENV)/.installed-$(SCHEMATHESIS_VERSION)
FUZZ_CASES ?= 2000
FUZZ_SEED ?= 20240601
SOAK_SECONDS ?= 120

.PHONY: fuzz soak fuzz-venv

$(FUZZ_STAMP):
	$(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet --upgrade pip
	$(FUZZ_VENV)/bin/pip install --quiet 'schemathesis==$(SCHEMATHESIS_VERSION)'
	touch $(FUZZ_STAMP)

## fuzz-venv: create .venv-fuzz with a pinned schemathesis
fuzz-venv: $(FUZZ_STAMP)

## fuzz: schemathesis against /v0/pipes/openapi.json of tests/project, $(FUZZ_CASES) cases, seeded
fuzz: setup $(FUZZ_STAMP)
	$(FUZZ_VENV)/bin/python scripts/fuzz.py --cases $(FUZZ_CASES) --seed $(FUZZ_SEED) --start-server $(BIN)/python

## soak: $(SOAK_SECONDS) s of mixed ingestion and queries on loopback; zero errors, flat RSS, p99
soak: setup
	$(BIN)/python scripts/soak.py --seconds $(SOAK_SECONDS)

# ---- CI/CD: the GitHub workflows call only these targets, so CI and people run the same steps.
# Targets that talk to Tinybird read TB_HOST and TB_TOKEN from the environment or the command
# line (`make deploy TB_HOST=... TB_TOKEN=...`); recipes use $$TB_TOKEN so make never echoes it.
TB := TB_CLI_TELEMETRY_OPTOUT=1 $(BIN)/tb --no-version-warning
WORKFLOWS := .github/workflows/ci.yml .github/workflows/cd.yml
# Tinybird Local (or tblocal) base URL, for `local-token`.
TB_LOCAL_HOST ?= http://localhost:7181
# Tries (3 s apart) `local-token` makes while the container starts.
TB_LOCAL_RETRIES ?= 60
# What `fmt-changed` diffs against (CI passes origin/<base branch>).
BASE_REF ?= origin/main
# NDJSON files appended to the landing data source by `load-fixtures`.
FIXTURES ?= $(sort $(wildcard fixtures/*.ndjson))
FIXTURES_DATASOURCE ?= user_events
# The regression suite; it targets TB_HOST/TB_TOKEN when both are set.
REGRESSION ?= $(wildcard tests/test_regression_*.py)
# Marker of the cases that only read (safe against production): `make smoke`.
SMOKE_MARK ?= readonly
# Extra `tb push` flags for a deploy, e.g. DEPLOY_FLAGS="--populate --wait".
DEPLOY_FLAGS ?=

.PHONY: lint-workflows fmt-changed require-target local-token push load-fixtures \
	test-remote deploy-dry-run deploy smoke

## lint-workflows: actionlint (with shellcheck on run: scripts) on both workflows
lint-workflows: setup
	$(BIN)/actionlint -no-color -oneline -shellcheck=$(BIN)/shellcheck -pyflakes= $(WORKFLOWS)

## fmt-changed: tb fmt --diff on the datafiles changed since BASE_REF
fmt-changed: setup
	@files="$$(git diff --name-only --diff-filter=ACMR '$(BASE_REF)...HEAD' -- 'datasources/*.datasource' 'pipes/*.pipe' 'pipes/*.incl')" || exit 1; \
	if [ -z "$$files" ]; then echo "fmt-changed: no datafile changed since $(BASE_REF)"; exit 0; fi; \
	rc=0; for f in $$files; do echo "tb fmt --diff $$f"; $(TB) fmt --diff --no-color "$$f" || rc=1; done; exit $$rc

require-target:
	@if [ -z "$$TB_HOST" ] || [ -z "$$TB_TOKEN" ]; then \
		echo "Set TB_HOST and TB_TOKEN (environment or make TB_HOST=... TB_TOKEN=...)" >&2; exit 2; fi

## local-token: print the workspace admin token of Tinybird Local (GET $(TB_LOCAL_HOST)/tokens)
local-token:
	@tokens="$$(curl -fsS --retry $(TB_LOCAL_RETRIES) --retry-delay 3 --retry-all-errors --max-time 10 '$(TB_LOCAL_HOST)/tokens')" \
		|| { echo "local-token: no answer from $(TB_LOCAL_HOST)/tokens" >&2; exit 1; }; \
	printf '%s' "$$tokens" | $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["workspace_admin_token"])'

## push: tb push every datafile (datasources/, pipes/) to TB_HOST/TB_TOKEN, e.g. Tinybird Local
push: setup require-target
	$(TB) push --push-deps --force --yes

## load-fixtures: append fixtures/*.ndjson to TB_HOST/TB_TOKEN
load-fixtures: setup require-target
	@test -n "$(FIXTURES)" || { echo "load-fixtures: no fixtures/*.ndjson" >&2; exit 1; }
	@for f in $(FIXTURES); do echo "append $$f -> $(FIXTURES_DATASOURCE)"; \
		$(BIN)/python scripts/ingest.py "$$f" --datasource $(FIXTURES_DATASOURCE) || exit 1; done

## test-remote: the regression suite against TB_HOST/TB_TOKEN (push + load-fixtures first)
test-remote: setup require-target
	$(BIN)/pytest $(REGRESSION)

## deploy-dry-run: what `make deploy` would push to TB_HOST/TB_TOKEN, changing nothing
deploy-dry-run: check require-target
	$(TB) workspace current
	$(TB) push --only-changes --push-deps --force --yes --dry-run $(DEPLOY_FLAGS)

## deploy: tb check, then push what changed to the workspace of TB_HOST/TB_TOKEN
deploy: check require-target
	$(TB) workspace current
	$(TB) push --only-changes --push-deps --force --yes $(DEPLOY_FLAGS)

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

## bench: generate BENCH_EVENTS events, compare tblocal with plain chDB; bench/out/bench.{json,png}
bench: bench-deps
	$(BIN)/python scripts/bench.py --events $(BENCH_EVENTS) $(BENCH_ARGS)
