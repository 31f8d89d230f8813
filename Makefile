# userops: `make run` and `make test` work on a fresh machine by themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_BINDIR := $(shell ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
PYTEST_WORKERS ?= auto

run: $(STAMP) ## Set up, load the demo dataset into ./userops-data and run the console
	$(BIN)/userops run-demo

test: $(STAMP) system-deps ## Set up and run lint, types, layer contracts and the test suite
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=25

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-14s %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv and install userops with its development tools

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

system-deps: ## Install Debian packages the tests need (PostgreSQL, chromium, a CJK font) when missing
	@missing=""; \
	 if [ -z "$(PG_BINDIR)" ] || [ ! -x "$(PG_BINDIR)/initdb" ]; then missing="$$missing postgresql"; fi; \
	 if ! command -v chromium >/dev/null 2>&1; then missing="$$missing chromium"; fi; \
	 if ! dpkg -s fonts-wqy-microhei >/dev/null 2>&1; then missing="$$missing fonts-wqy-microhei"; fi; \
	 if [ -n "$$missing" ]; then \
	   echo "installing Debian packages:$$missing"; \
	   if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	   $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	 fi

lint: $(STAMP) ## ruff, mypy and the import-linter layer contracts
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP) ## Run the benchmarks against their baselines and print the ratios
	$(BIN)/python -m bench

clean: ## Remove the virtualenv, caches and local data
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache userops-data test-artifacts

.PHONY: run test help setup system-deps lint format bench clean
