# Two commands for a newcomer: `make demo` and `make test`. Both set up a
# virtual environment in .venv first (idempotent; re-run freely).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-all clean

setup: $(STAMP)

# torch is pinned first: the CPU build lies on this disk, and an unpinned
# torch (pulled by sentence-transformers) would download a CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dense,lingua,test]"
	touch $(STAMP)

demo: setup
	$(BIN)/pivotrec run configs/demo.yaml

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out .pytest_cache
