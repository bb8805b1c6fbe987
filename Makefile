# Set-up and everyday commands. `make dataset` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= build/dataset
SOURCE ?= generate:600
LIMIT ?=
LLM ?= rules
TTS ?= espeak
RUNNER ?= DirectRunner
ARGS ?=

.PHONY: venv dataset test test-slow lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

dataset: venv
	$(BIN)/python -m pipeline --source $(SOURCE) --output $(OUT) --llm $(LLM) --tts $(TTS) \
		--runner $(RUNNER) $(if $(LIMIT),--limit $(LIMIT)) $(ARGS)

test: venv
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: venv
	$(BIN)/python -m pytest -q -m slow

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
