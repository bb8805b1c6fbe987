"""``python -m pipeline.export_llamafactory TRAIN.yaml`` (run where LLaMA-Factory is
installed): the tokenized dataset LLaMA-Factory trains from, with every assistant turn
exactly its row's ``interleaved_ids``.

LLaMA-Factory tokenizes an assistant turn from its text, and interleaved text re-tokenized
gives other ids in nearly every row (see ``pipeline.export``). It can instead train from a
dataset tokenized beforehand (``tokenized_path``). This takes the same arguments as
``llamafactory-cli train`` (a YAML file or flags naming a ``--format llamafactory`` export,
the model, the template and ``tokenized_path``), runs LLaMA-Factory's own data pipeline on
the export (its template, its processor expanding the audio placeholder, its masking and
cut-off), then puts each row's ids in place of the target tokens LLaMA-Factory made from the
text, and saves the result at ``tokenized_path``. A row is matched to its ids by the text of
its target (decoding is exact for a byte-level BPE), so splits and shuffles do not matter; a
row whose target does not decode to an exported text (cut at ``cutoff_len``) is an error that
says so. Train with the same arguments afterwards: LLaMA-Factory loads ``tokenized_path``.

Only the standard library and LLaMA-Factory (with what it installs) are imported: install
this package beside LLaMA-Factory with ``pip install --no-deps -e .``.
"""

from __future__ import annotations

import json
from pathlib import Path

IGNORE_INDEX = -100
END_OF_TURN = 8  # at most this many tokens of a template's end of turn follow the target text


def exported_ids(dataset_dir: str, names: list[str]) -> dict[str, list[int]]:
    """Assistant text -> ``interleaved_ids`` for every row of the named exports."""
    info = json.loads((Path(dataset_dir) / "dataset_info.json").read_text(encoding="utf-8"))
    by_text = {}
    for name in names:
        if name not in info:
            raise SystemExit(f"{name!r} is not in {dataset_dir}/dataset_info.json")
        path = Path(dataset_dir) / info[name]["file_name"]
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                sample = json.loads(line)
                if "interleaved_ids" not in sample:
                    raise SystemExit(f"{path}:{number} has no interleaved_ids: export it with "
                                     "python -m pipeline.export --format llamafactory")
                by_text[sample["messages"][-1]["content"]] = sample["interleaved_ids"]
    return by_text


def with_exact_target(example: dict, tokenizer, by_text: dict[str, list[int]]) -> dict:
    """One tokenized example with its target's text tokens replaced by the row's ids; the
    template's end of turn (``<|im_end|>`` and what follows) is kept as LLaMA-Factory made it."""
    labels = example["labels"]
    start = next(i for i, label in enumerate(labels) if label != IGNORE_INDEX)
    target = labels[start:]
    for end in range(len(target), max(len(target) - END_OF_TURN, 0), -1):
        ids = by_text.get(tokenizer.decode(target[:end], skip_special_tokens=False))
        if ids is not None:
            break
    else:
        raise SystemExit(f"a target of {len(target)} tokens matches no exported row: it was cut at "
                         "cutoff_len or the export is not the one named; raise cutoff_len or export again")
    exact = ids + target[end:]
    input_ids = example["input_ids"][:start] + exact
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids),
            "labels": labels[:start] + exact}


def main(args: dict | None = None) -> None:
    """``args``: LLaMA-Factory's training arguments as a dict; by default read from the
    command line the way ``llamafactory-cli train`` reads them (a YAML file, then overrides)."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args, read_args
    from llamafactory.model import load_tokenizer

    model_args, data_args, training_args, *_ = get_train_args(read_args(args))
    out = data_args.tokenized_path
    if not out:
        raise SystemExit("set tokenized_path: where the tokenized dataset is written, and read when training")
    if Path(out).exists():
        raise SystemExit(f"{out} exists: LLaMA-Factory would load it as it is; remove it to tokenize again")
    data_args.tokenized_path = None
    by_text = exported_ids(data_args.dataset_dir, data_args.dataset)
    modules = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(modules["tokenizer"], data_args)
    dataset = get_dataset(template, model_args, data_args, training_args, stage="sft", **modules)
    from datasets import DatasetDict

    splits = {"train": dataset["train_dataset"]}
    evaluation = dataset.get("eval_dataset")
    if isinstance(evaluation, dict):  # eval_on_each_dataset: saved the way LLaMA-Factory reads it back
        splits |= {f"validation_{name}": split for name, split in evaluation.items()}
    elif evaluation is not None:
        splits["validation"] = evaluation
    exact = DatasetDict({name: split.map(with_exact_target, fn_kwargs={"tokenizer": modules["tokenizer"],
                                                                        "by_text": by_text})
                         for name, split in splits.items()})
    exact.save_to_disk(out)
    rows = sum(len(split) for split in exact.values())
    print(f"wrote {out}: {rows} rows, each assistant turn its row's interleaved_ids")


if __name__ == "__main__":
    main()
