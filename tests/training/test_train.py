import json

import torch

from training.data import Vocab, iter_rows, to_example
from training.train import Recipe, TrainConfig, main


def test_examples_mask_the_question(small_dataset):
    row = next(iter_rows(small_dataset))
    example = to_example(row)
    assert example.ids == row["question_ids"] + row["interleaved_ids"]
    assert example.loss_mask == [0] * len(row["question_ids"]) + [1] * len(row["interleaved_ids"])


def test_reinterleaving_for_another_ratio(small_dataset):
    row = next(iter_rows(small_dataset))
    wide, usual = to_example(row, p=4, q=4), to_example(row)
    assert wide.ids != usual.ids

    def text_tokens(ids):
        return sorted(i for i in ids if i < 151665)

    assert text_tokens(wide.ids) == text_tokens(usual.ids)


def test_vocab_round_trip():
    vocab = Vocab([5, 151665, 9, 5])
    assert len(vocab) == 4
    assert vocab.decode(vocab.encode([9, 151665, 77])) == [9, 151665]


def test_training_lowers_the_loss_and_resumes(small_dataset, tmp_path):
    out = tmp_path / "run"
    args = ["--data", str(small_dataset), "--out", str(out), "--batch_size", "8", "--width", "64",
            "--eval_every", "10", "--device", "cpu"]
    log = main([*args, "--steps", "30"])
    assert log[-1]["step"] == 30
    assert sum(e["loss"] for e in log[-5:]) < sum(e["loss"] for e in log[:5])
    assert (out / "checkpoint.pt").exists() and (out / "vocab.json").exists()

    resumed = Recipe(TrainConfig(data=str(small_dataset), out=str(out), steps=40, batch_size=8,
                                 width=64, eval_every=10, device="cpu"))
    resumed.setup()
    assert resumed.step == 30
    more = resumed.train()
    assert [e["step"] for e in more] == list(range(31, 41))
    lines = (out / "losses.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(1, 41))
    assert torch.load(out / "checkpoint.pt")["step"] == 40
