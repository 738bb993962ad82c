# 增信通 — the two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

export GX_ANALYTICS_ENABLED := false
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export DO_NOT_TRACK := 1

.PHONY: demo test test-scheduler lint format lock install system-deps clean

demo: install
	$(BIN)/zxt demo

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/sqlfluff lint dbt_project/models --disable-progress-bar --nocolor
	$(BIN)/pytest

# The nightly under the real scheduler (zxt airflow up, backfill via the API, rerun, alerts): slow.
test-scheduler: install
	ZXT_SCHEDULER_E2E=1 $(BIN)/pytest tests/e2e/test_scheduler.py

install: system-deps $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$$(grep '^uv==' requirements.lock)"
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	$(BIN)/zxt dbt parse --quiet  # target/manifest.json: the nightly DAG renders its dbt tasks from it
	rm -f $(VENV)/.installed-*
	touch $@

# gpg (bank-file encryption) and ssh-keygen are system binaries; install them when missing.
system-deps:
	@command -v gpg >/dev/null && command -v ssh-keygen >/dev/null || { \
	  echo "installing gnupg and openssh-client (needs root)"; \
	  apt-get update -qq && apt-get install -y -qq gnupg openssh-client >/dev/null; }

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports --no-cache \
	  && $(BIN)/sqlfluff lint dbt_project/models

format:
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

# Re-resolve requirements.lock from requirements.in (needs the package index).
lock:
	$(BIN)/uv pip compile requirements.in --python-version 3.11 --no-header -o requirements.lock

clean:
	-$(BIN)/zxt warehouse stop
	rm -rf .zxt
