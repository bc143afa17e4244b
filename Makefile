PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test lint bench clean

install: $(BIN)/genflow

$(BIN)/genflow: pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[test]"
	touch $(BIN)/genflow

test: install
	$(BIN)/python -m pytest -q -n 2 tests

lint: install
	$(BIN)/python -m compileall -q genflow tests benchmarks

bench: install
	$(BIN)/pip install -e ".[test,bench]"
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf outputs/*/ multirun/ .pytest_cache
