# Two commands do all set-up: `make demo` and `make test`. Installing twice is a no-op:
# the venv is rebuilt only when pyproject.toml changes. uv installs the packages (from PyPI, the same
# versions pip resolves) in seconds where pip took ~50 s of CI's 10-minute budget.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test style lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv>=0.13,<0.14'
	$(BIN)/python -m uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/flowwatch demo $(ARGS)

# Three workers (pytest-xdist) on two cores: each starts with a third of the suite in collection order
# (a module's fixtures, e.g. a seeded server, are made once) and takes tests from the others' ends when
# it runs out, so none waits idle at the end; the test that restarts RabbitMQ takes the broker's lock
# alone (tests/conftest.py), and the seeded demo templates are made once for all (tests/live_server.py).
# The suite waits on its servers, Chromium and PostgreSQL (two workers kept the cores 58 % busy): a
# third fills that time, 554 s → 460 s on the same 2-core host, same commit.
# mypy (15 s from a fresh clone, one core) checks beside the tests rather than before them; either failing
# fails `make test`.
TEST_WORKERS ?= 3
test: style
	$(BIN)/mypy & typing=$$!; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS); tests=$$?; \
	wait $$typing && exit $$tests

style: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy is strict on models/ and app/services/ (pyproject's [tool.mypy])
lint: style
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
