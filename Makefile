# One command to run the service, one to test it. Everything installs into .venv from the lock files.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null)
STAMP := $(VENV)/.installed

.PHONY: run test test-slow lint types install lock clean bench

$(STAMP): requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifdef UV
	$(UV) pip install --python $(BIN)/python --require-hashes -r requirements-dev.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e .
else
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
endif
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/auction demo --live

lint: $(STAMP)
	$(BIN)/ruff check app tests bench migrations
	$(BIN)/ruff format --check app tests bench migrations

types: $(STAMP)
	$(BIN)/mypy

test: lint types
	$(BIN)/python -m tests.run

test-slow: $(STAMP)
	$(BIN)/python -m tests.run --slow

bench: $(STAMP)
	$(BIN)/python bench/rules_replay.py

# Re-pin the dependency set (needs uv); the lock files record versions and hashes, no index URLs.
lock:
	uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements.lock
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
