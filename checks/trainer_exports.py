"""What LLaMA-Factory or ms-swift trains on, read from its own data pipeline and compared
with the rows' ``interleaved_ids``; then one training step of the documented command.

Run by ``make check-exports`` in each trainer's own environment (``checks/llamafactory.txt``,
``checks/swift.txt``: their pins of ``datasets`` conflict), on a folder holding ``lf/`` and
``swift/`` exports of one dataset and ``model/`` from ``checks/tiny_qwen_omni.py``:
``python checks/trainer_exports.py llamafactory|swift FOLDER``. Exits 1 unless every row's
label ids are its ``interleaved_ids`` followed by the template's end of turn.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

IGNORE_INDEX = -100
SPECIAL = ["<|response_pad|>", "<|reasoning_pad|>", "<|response_end|>"]
SPECIAL_IDS = [151665, 151666, 151667]  # pipeline.tokenizers: Qwen2.5's, from 151,665
REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the trainers' commands, installed beside this interpreter


def target(labels: list[int]) -> list[int]:
    return [label for label in labels if label != IGNORE_INDEX]


def exact_rows(targets: list[list[int]], expected: list[list[int]], end_of_turn: list[int]) -> int:
    """How many rows' targets are one exported row's ids followed by the end of turn, each
    exported row used once."""
    left = {}
    for ids in expected:
        key = tuple(ids + end_of_turn)
        left[key] = left.get(key, 0) + 1
    exact = 0
    for ids in targets:
        if left.get(tuple(ids), 0):
            left[tuple(ids)] -= 1
            exact += 1
    return exact


def run(command: list[str], log: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1",
                        "DISABLE_VERSION_CHECK": "1", "WANDB_DISABLED": "true"}
    with log.open("w") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
    if done.returncode:
        sys.exit(f"{' '.join(command[:3])} ... failed (exit {done.returncode}); see {log}\n"
                 + "\n".join(log.read_text().splitlines()[-15:]))


def llamafactory(folder: Path, model: Path) -> tuple[int, int, int]:
    """Rows whose labels are exact when LLaMA-Factory tokenizes the text itself, and when it
    loads ``python -m pipeline.export_llamafactory``'s tokenized dataset; then one step."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    export = folder / "lf"
    rows = [json.loads(line) for line in (export / "spoken_math.jsonl").read_text().splitlines()]
    config = {"stage": "sft", "do_train": True, "finetuning_type": "lora", "lora_target": "all",
              "model_name_or_path": str(model), "template": "qwen2_omni", "trust_remote_code": True,
              "dataset_dir": str(export), "dataset": "spoken_math", "cutoff_len": 4096,
              "add_special_tokens": ",".join(SPECIAL), "output_dir": str(folder / "lf-run"),
              "overwrite_output_dir": True, "per_device_train_batch_size": 2, "max_steps": 1,
              "logging_steps": 1, "save_strategy": "no", "report_to": "none", "use_cpu": True,
              "preprocessing_num_workers": 1, "dataloader_num_workers": 0}

    def labels(settings: dict) -> list[list[int]]:
        model_args, data_args, training_args, *_ = get_train_args(settings)
        modules = load_tokenizer(model_args)
        tokenizer = modules["tokenizer"]
        # Added after Qwen2.5-Omni's 151,665 tokens, ours take the ids the dataset uses.
        added = tokenizer.convert_tokens_to_ids(SPECIAL)
        assert added == SPECIAL_IDS, added
        template = get_template_and_fix_tokenizer(tokenizer, data_args)
        data = get_dataset(template, model_args, data_args, training_args, stage="sft", **modules)
        return [target(example["labels"]) for example in data["train_dataset"]]

    end_of_turn = [151645, 198]  # <|im_end|> "\n": the qwen2_omni template's end of an assistant turn
    expected = [row["interleaved_ids"] for row in rows]
    from_text = exact_rows(labels(config), expected, end_of_turn)
    tokenized = folder / "lf-tokenized"
    shutil.rmtree(tokenized, ignore_errors=True)
    settings = config | {"tokenized_path": str(tokenized)}
    yaml = "".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items())
    (folder / "lf-train.yaml").write_text(yaml)
    run([sys.executable, "-m", "pipeline.export_llamafactory", str(folder / "lf-train.yaml")],
        folder / "lf-tokenize.log")
    from_ids = exact_rows(labels(settings), expected, end_of_turn)
    run([str(BIN / "llamafactory-cli"), "train", str(folder / "lf-train.yaml")], folder / "lf-train.log")
    return len(rows), from_text, from_ids


def swift(folder: Path, model: Path) -> tuple[int, int]:
    """Rows whose labels are exact through ms-swift's dataset loader and template; then one step."""
    from swift.dataset import load_dataset
    from swift.model import get_model_processor
    from swift.template import get_template

    export = folder / "swift" / "spoken_math.jsonl"
    rows = [json.loads(line) for line in export.read_text().splitlines()]
    _, processor = get_model_processor(str(model), model_type="qwen2_5_omni", load_model=False)
    template = get_template(processor, template_type="qwen2_5_omni")
    template.set_mode("train")
    dataset, _ = load_dataset([str(export)], num_proc=1)
    targets = [target(template.encode(example)["labels"]) for example in dataset]
    end_of_turn = [151645, 198]  # <|im_end|> "\n", the qwen2_5_omni template's end of an assistant turn
    expected = [row["messages"][-1]["content"]["token_ids"] for row in rows]
    exact = exact_rows(targets, expected, end_of_turn)
    run([str(BIN / "swift"), "sft", "--model", str(model), "--model_type", "qwen2_5_omni",
         "--tuner_type", "lora", "--dataset", str(export), "--output_dir", str(folder / "swift-run"),
         "--new_special_tokens", *SPECIAL, "--max_steps", "1", "--per_device_train_batch_size", "2",
         "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none",
         "--split_dataset_ratio", "0", "--dataset_num_proc", "1"], folder / "swift-train.log")
    return len(rows), exact


def main(trainer: str, folder: str) -> None:
    root = Path(folder).resolve()
    model = root / "model"
    if trainer == "llamafactory":
        rows, from_text, exact = llamafactory(root, model)
        print(f"LLaMA-Factory {version('llamafactory')}: label ids equal interleaved_ids in "
              f"{exact}/{rows} rows loaded from tokenized_path ({from_text}/{rows} when it tokenizes "
              "the text itself); one training step ran")
    else:
        rows, exact = swift(root, model)
        print(f"ms-swift {version('ms-swift')}: label ids equal interleaved_ids in {exact}/{rows} rows; "
              "one training step ran")
    if exact != rows:
        sys.exit(1)


if __name__ == "__main__":
    main(*sys.argv[1:])
