# Two entry points: `make demo` and `make test`. Both create .venv/ on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_PROGRESS_BARS ?= 1
export TOKENIZERS_PARALLELISM ?= false

QUESTION ?= How many troops did Russia withdraw from occupied Crimea?

.PHONY: demo test lint install clean

# torch first and pinned, so nothing later pulls a CUDA build (README, "CPU-only torch").
$(BIN)/citebot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/citebot

demo: install
	$(BIN)/citebot index
	$(BIN)/citebot ask "$(QUESTION)"

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) embeddings/CURRENT embeddings/gen-* embeddings/.lock
