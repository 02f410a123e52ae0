# Two entry points, both self-contained on a fresh machine:
#   make demo   - set up, then index the real sample video and run text searches
#   make test   - set up, then lint, type-check and run the whole test suite
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test check bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup
	PYTHON=$(PYTHON) scripts/setup
	touch $(STAMP)

demo: setup
	scripts/demo

test: setup
	scripts/check

bench: setup
	$(VENV)/bin/python bench/bench_embedders.py
	$(VENV)/bin/python bench/bench_index.py
	$(VENV)/bin/python bench/bench_search.py

clean:
	rm -rf $(VENV) demo-output vigil-data .pytest_cache .mypy_cache .ruff_cache
