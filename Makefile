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

TRAIN_OUT ?= build/train
STEPS ?= 300

.PHONY: venv dataset train report test test-slow lint bench bench-memory clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

dataset: venv
	$(BIN)/python -m pipeline --source $(SOURCE) --output $(OUT) --llm $(LLM) --tts $(TTS) \
		--runner $(RUNNER) $(if $(LIMIT),--limit $(LIMIT)) $(ARGS)

train: venv
	$(BIN)/python -m training --data $(OUT) --out $(TRAIN_OUT) --steps $(STEPS)

report: venv
	$(BIN)/python -m eval --data $(OUT) --out $(OUT)/report

test: venv
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: venv
	$(BIN)/python -m pytest -q -m slow

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python -m benchmarks.run

bench-memory: venv
	$(BIN)/python -m benchmarks.memory

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
