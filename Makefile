# Two commands for a newcomer: `make demo` and `make test`. Both set up a
# virtual environment in .venv first (idempotent; re-run freely).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

APERTIUM_PACKAGES := apertium apertium-eng-spa apertium-eng-cat apertium-en-gl apertium-eu-en apertium-eo-en apertium-fr-es apertium-es-pt
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-deps demo test clean

setup: $(STAMP) system-deps

# Debian's Apertium gives the demo and tests real offline translation. Best
# effort: without apt (or root/sudo) pivotrec still runs, the demo keeps those
# languages in their original text and says so, and Apertium tests skip.
system-deps:
	@if dpkg -s $(APERTIUM_PACKAGES) >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null && { [ -z "$(SUDO)" ] || command -v sudo >/dev/null; }; then \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APERTIUM_PACKAGES) >/dev/null \
		|| echo "warning: could not install Apertium; those languages will not be translated"; \
	else echo "note: no apt-get/sudo here; install Apertium yourself for offline es/ca/gl/eu/fr/pt translation"; fi

# torch is pinned first: the CPU build lies on this disk, and an unpinned
# torch (pulled by sentence-transformers) would download a CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dense,lingua,translate,ctranslate2,direct,ann,ray,test,bench]"
	touch $(STAMP)

demo: setup
	$(BIN)/pivotrec run configs/demo.yaml

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out .pytest_cache
