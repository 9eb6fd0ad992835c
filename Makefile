# Two commands for a newcomer: `make demo` and `make test`. Both set up a
# virtual environment in .venv first (idempotent; re-run freely).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

APERTIUM_PACKAGES := apertium apertium-eng-spa apertium-eng-cat apertium-en-gl apertium-eu-en apertium-eo-en apertium-fr-es apertium-es-pt apertium-spa-ita
# FreeDict dictionaries into English for the lexicon (gloss) translator.
FREEDICT_PACKAGES := dict-freedict-deu-eng dict-freedict-jpn-eng dict-freedict-ara-eng dict-freedict-ell-eng dict-freedict-tur-eng dict-freedict-swh-eng
SYSTEM_PACKAGES := $(APERTIUM_PACKAGES) $(FREEDICT_PACKAGES)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Headless Chromium (with CJK fonts) for the tests that render the report and the service's page.
BROWSER_PACKAGES := chromium fonts-noto-cjk

.PHONY: setup system-deps browser demo test typecheck clean

setup: $(STAMP) system-deps

# Debian's Apertium and FreeDict give the demo and tests real offline
# translation and glosses. Best effort: without apt (or root/sudo) pivotrec
# still runs, the demo keeps those languages in their original text and says
# so, and the tests that need them skip.
system-deps:
	@if dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null && { [ -z "$(SUDO)" ] || command -v sudo >/dev/null; }; then \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null \
		|| echo "warning: could not install Apertium/FreeDict; those languages will not be translated or glossed"; \
	else echo "note: no apt-get/sudo here; install $(SYSTEM_PACKAGES) yourself for offline es/ca/gl/eu/fr/pt/it translation and de/ja/ar/el/tr/sw glosses"; fi

# Best effort too: without it the page and report rendering tests skip and say why.
browser:
	@if dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null && { [ -z "$(SUDO)" ] || command -v sudo >/dev/null; }; then \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null \
		|| echo "warning: could not install Chromium; the rendering tests will skip"; \
	else echo "note: no apt-get/sudo here; install $(BROWSER_PACKAGES) for the rendering tests"; fi

# torch is pinned first: the CPU build lies on this disk, and an unpinned
# torch (pulled by sentence-transformers) would download a CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dense,lingua,translate,ctranslate2,direct,ann,ray,lexicon,serve,onnx,openvino,test,bench]"
	touch $(STAMP)

demo: setup
	$(BIN)/pivotrec run configs/demo.yaml

# mypy reads the folders as the installed package sees them (pivotrec.pipeline, ...)
# through a tree of links, since the folders stay at the top level.
typecheck: setup
	@rm -rf .typecheck && mkdir -p .typecheck/pivotrec
	@for folder in pipeline plugins models; do ln -s ../../$$folder .typecheck/pivotrec/$$folder; done
	cd .typecheck && ../$(BIN)/mypy --config-file ../pyproject.toml -p pivotrec.pipeline -p pivotrec.plugins -p pivotrec.models

test: setup browser typecheck
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out .pytest_cache .typecheck
