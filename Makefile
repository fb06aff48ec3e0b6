# Two entry points: `make up` runs the platform, `make test` runs everything CI runs.
# Both set themselves up (.venv, the project, the Debian packages the tests need).

VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test check bootstrap system-deps node-tools

up: bootstrap system-deps
	$(BIN)/sre up

test: bootstrap system-deps node-tools check
	$(BIN)/pytest

check: bootstrap
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

bootstrap:
	@scripts/bootstrap

system-deps:
	@scripts/system-deps

node-tools:
	@scripts/node-tools
