# Two commands a fresh clone needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint check-format typecheck lock demo clean

# The virtualenv is rebuilt whenever the lock file or pyproject.toml changes.
$(INSTALLED): requirements/lock.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("kitchen needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(INSTALLED)

## Start the app on http://127.0.0.1:8000 (KITCHEN_HOST, KITCHEN_PORT) with the embedded SQLite database, migrated, with demo data.
run: $(INSTALLED)
	$(BIN)/kitchen database upgrade --no-prompt
	$(BIN)/kitchen demo --if-empty
	$(BIN)/kitchen run

## Lint, type-check and run the whole test suite (PostgreSQL too when KITCHEN_TEST_DATABASE_URL is set).
test: lint $(INSTALLED)
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Re-pin every dependency after editing pyproject.toml.
lock:
	$(PYTHON) -m venv /tmp/kitchen-uv && /tmp/kitchen-uv/bin/pip install --quiet uv
	/tmp/kitchen-uv/bin/uv pip compile pyproject.toml requirements/build.in --extra dev \
		--generate-hashes --python-version 3.11 --universal -o requirements/lock.txt
	/tmp/kitchen-uv/bin/uv pip compile pyproject.toml \
		--generate-hashes --python-version 3.11 --universal -o requirements/runtime.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
