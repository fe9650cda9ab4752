# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_WORKSPACE ?= demo-workspace

.PHONY: install demo test lint bench completions clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,plot,wsi,ray]'
	touch $@

demo: install
	$(BIN)/steph --workspace $(DEMO_WORKSPACE) demo

test: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/train_throughput.py

# Scripts for users who source them directly; `steph --install-completion` also works.
completions: install
	for sh in bash zsh fish; do _STEPH_COMPLETE=source_$$sh $(BIN)/steph > completions/steph.$$sh; done

clean:
	rm -rf $(VENV) $(DEMO_WORKSPACE) .pytest_cache
