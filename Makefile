# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   simulate a product, ingest, train, promote and score, end to end
#   make test   lint, format check and the test suite (what CI runs)

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
RUN := $(UV) run --frozen
# bentoml build looks for uv on PATH (and would try pip otherwise, which .venv lacks)
export PATH := $(abspath $(TOOLS))/bin:$(PATH)

.PHONY: demo test lint bench install clean

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

install: .venv/.synced

demo: install
	$(RUN) pqa demo

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

test: lint
	$(RUN) pytest -q

bench: install
	$(RUN) python benchmarks/run_all.py

clean:
	rm -rf .venv $(TOOLS) demo .pqa-cache
