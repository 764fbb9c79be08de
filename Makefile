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
	$(BIN)/tblocal serve --data-dir $(DATA_DIR) --port $(PORT) --load-fixtures fixtures

## check: tb check and tb fmt --diff on every datafile
check: setup
	TB_CLI_TELEMETRY_OPTOUT=1 $(BIN)/tb --no-version-warning check $(DATAFILES)
	@for f in $(DATAFILES); do TB_CLI_TELEMETRY_OPTOUT=1 $(BIN)/tb --no-version-warning fmt --diff --no-color $$f || exit 1; done

## test: datafile checks, then the whole pytest suite against tblocal
test: check
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(DATA_DIR)
