import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile
import torch

from pipeline.dataset.shards import read_rows, shard_files
from pipeline.stages.interleave import EOS, LAYOUTS, REASONING, RESPONSE, RESPONSE_PAD, arrange, demultiplex
from pipeline.tokenizers import load_tokenizer
from training.data import (
    MARKERS,
    TEXT,
    RowStream,
    Task,
    Vocab,
    collate,
    example_batches,
    make_example,
)
from training.generate import main as generate
from training.train import RECIPES, load_recipe, parse_stages, read_log

ROOT = Path(__file__).resolve().parents[2]
TINY = ["threads=1", "model.layers=1", "model.width=32", "model.heads=2", "audio.encoder_width=32",
        "audio.encoder_layers=1", "talker.width=32", "talker.layers=1", "talker.frames_per_token=4",
        "data.batch_size=4", "eval_every=3", "checkpoint_every=3", "stages.alignment.steps=6",
        "stages.math_pretraining.steps=4", "stages.textual_tis.steps=12", "stages.acoustic_tis.steps=4",
        "stages.talker.steps=4"]


def rows(dataset, count=8):
    columns = [*Task("talk", "audio").needs, "interleaved_ids", "interleaved_streams"]
    return list(read_rows(shard_files(dataset), columns))[:count]


def train(dataset, out, *extra, check=True):
    return subprocess.run([sys.executable, "-m", "training", "--data", str(dataset), "--out", str(out), *TINY,
                           *extra], cwd=ROOT, capture_output=True, text=True, check=check, timeout=600)


def test_layouts_come_from_the_interleaver_and_demultiplex(small_dataset):
    special = load_tokenizer("qwen2.5").special
    for row in rows(small_dataset):
        tis, _ = arrange(row, row["tokenizer"], "tis", row["p"], row["q"])
        assert tis.ids == row["interleaved_ids"]
        text = None
        for layout in LAYOUTS:
            arranged, _ = arrange(row, row["tokenizer"], layout, row["p"], row["q"])
            assert demultiplex(arranged.ids, layout, row["p"], row["q"], special) == arranged.streams
            assert arranged.streams[-1] == EOS
            said = [t for t, s in zip(arranged.ids, arranged.streams, strict=True) if s == RESPONSE]
            text = text or said
            assert said == text
            thought = [t for t, s in zip(arranged.ids, arranged.streams, strict=True) if s == REASONING]
            reasoned = [t for t, s in zip(tis.ids, tis.streams, strict=True) if s == REASONING]
            assert thought == ([] if layout == "direct" else reasoned)


def test_examples_mark_the_question_and_the_task(small_dataset):
    row = rows(small_dataset, 1)[0]
    vocab = Vocab.scan(shard_files(small_dataset))
    text = make_example(row, Task("speak", "text"), vocab)
    question_end, answer = vocab.markers["<|question_end|>"], vocab.markers["<|answer|>"]
    assert text.ids[:text.first_target] == vocab.encode(row["question_ids"]) + [question_end, answer]
    assert vocab.decode(text.ids[text.first_target:]) == row["interleaved_ids"]
    assert text.labels[text.first_target:] == row["interleaved_streams"]
    heard = make_example(row, Task("transcribe", "audio"), vocab)
    assert heard.audio is not None and heard.ids[:heard.first_target] == [question_end,
                                                                          vocab.markers["<|transcript|>"]]
    assert heard.labels[-1] == EOS and set(heard.labels[heard.first_target:-1]) == {TEXT}
    assert len(vocab) == 2 + len(MARKERS) + len(vocab.token_ids)
    assert vocab.decode(vocab.encode([5, 10**9])) == ([5] if 5 in vocab.token_ids else [])


def test_batches_weight_streams_and_count_truncation(small_dataset):
    vocab = Vocab.scan(shard_files(small_dataset))
    waiting = [r for r in rows(small_dataset, 48) if RESPONSE_PAD in r["interleaved_streams"]][:4]
    assert len(waiting) == 4  # rows where speech waits for reasoning
    examples = [make_example(r, Task("talk", "audio"), vocab) for r in waiting]
    recipe = load_recipe(RECIPES / "small.yaml", ["loss_weights.response_pad=0.25"])
    from training.train import mel_config

    batch = collate(examples, recipe["loss_weights"], 512, mel_config(recipe), 4)
    assert batch.truncated == 0 and batch.features is not None and batch.heard.any()
    pads = batch.weights[batch.weights > 0].unique().tolist()
    assert 0.25 in pads and 1.0 in pads
    assert batch.speaking.sum() == sum(e.labels.count(RESPONSE) for e in examples)
    assert batch.mel_targets[batch.speaking].abs().sum() > 0
    short = collate(examples, recipe["loss_weights"], 40, mel_config(recipe), 4)
    assert short.truncated == 4 and short.inputs.shape[1] == 40


def test_the_stream_resumes_at_the_same_batch(small_dataset):
    vocab = Vocab.scan(shard_files(small_dataset))
    task = Task("speak", "text")
    stream = RowStream(shard_files(small_dataset), task.needs, 0.1, False, seed=3, buffer=8)
    straight = example_batches(stream, task, vocab, 4)
    seen = [[e.row_id for e in next(straight)[2]] for _ in range(14)]
    resumed = example_batches(stream, task, vocab, 4, epoch=1, skip=2)
    assert [e.row_id for e in next(resumed)[2]] in seen
    held = RowStream(shard_files(small_dataset), task.needs, 0.1, True, seed=3)
    held_ids = {r["id"] for r in held.epoch(0)}
    assert held_ids and not held_ids & {i for batch in seen for i in batch}


def test_recipe_overrides_and_stage_lists():
    recipe = load_recipe(RECIPES / "small.yaml", ["stages.talker.steps=7", "layout=tbs"])
    assert recipe["stages"]["talker"]["steps"] == 7 and recipe["layout"] == "tbs"
    with pytest.raises(ValueError, match="unknown recipe key"):
        load_recipe(RECIPES / "small.yaml", ["stages.nope.steps=1"])
    assert parse_stages("1-3,5") == [1, 2, 3, 5]
    with pytest.raises(ValueError):
        parse_stages("0-6")


@pytest.fixture(scope="module")
def trained(small_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    train(small_dataset, out)
    return out


def test_all_five_stages_train_and_save(trained):
    log = read_log(trained)
    assert [e["step"] for e in log] == list(range(1, 31))
    stages = ["alignment", "math_pretraining", "textual_tis", "acoustic_tis", "talker"]
    assert list(dict.fromkeys(e["stage"] for e in log)) == stages
    for stage in stages:
        assert (trained / f"stage{stages.index(stage) + 1}-{stage}.pt").exists()
        assert (trained / f"best-{stage}.pt").exists()
        assert (trained / "curves" / f"{stage}.png").stat().st_size > 1000
    text = [e["loss"] for e in log if e["stage"] == "textual_tis"]
    assert sum(text[-3:]) < sum(text[:3])
    state = torch.load(trained / "last.pt", weights_only=True)
    assert state["done"] == [1, 2, 3, 4, 5]


def test_a_killed_run_resumes_to_the_same_losses(small_dataset, trained, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "training", "--data", str(small_dataset), "--out", str(out), *TINY]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(read_log(out)) < 14 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 14 <= len(read_log(out)) < 30
    train(small_dataset, out)
    assert (out / "losses.jsonl").read_text() == (trained / "losses.jsonl").read_text()


def test_sigterm_saves_a_checkpoint_and_stops(small_dataset, tmp_path):
    out = tmp_path / "stopped"
    process = subprocess.Popen([sys.executable, "-m", "training", "--data", str(small_dataset), "--out",
                                str(out), *TINY], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 300
    while len(read_log(out)) < 4 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 143 and "resume" in errors
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["position"]["global_step"] == read_log(out)[-1]["step"]


def test_generate_prints_both_streams_and_writes_audio(trained, tmp_path, capsys):
    wav = tmp_path / "response.wav"
    generation = generate([str(trained), "--question", "A pen costs 3 dollars. How much do 4 pens cost?",
                           "--wav", str(wav), "--max_tokens", "80"])
    printed = capsys.readouterr().out
    assert "spoken response:" in printed and "silent reasoning:" in printed
    assert generation.labels and set(generation.labels) <= set(range(5))
    samples, rate = soundfile.read(wav)
    if RESPONSE in generation.labels:
        assert rate == 16000 and len(samples) > 0 and abs(samples).max() > 0.1
    row_audio = tmp_path / "question.wav"
    soundfile.write(row_audio, samples if len(samples) else [0.0] * 1600, 16000)
    heard = generate([str(trained), "--audio", str(row_audio), "--wav", str(tmp_path / "b.wav"),
                      "--max_tokens", "20"])
    assert heard.labels


def test_a_hugging_face_qwen2_thinker_trains(small_dataset, tmp_path):
    transformers = pytest.importorskip("transformers")
    folder = tmp_path / "qwen2-tiny"
    transformers.Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                             num_key_value_heads=1, vocab_size=128).save_pretrained(folder)
    out = tmp_path / "hf"
    train(small_dataset, out, "--thinker", f"hf:{folder}", "--stages", "3", "lora_rank=4")
    log = read_log(out)
    assert [e["step"] for e in log] == list(range(1, 13))
    assert all(e["loss"] == e["loss"] and e["loss"] > 0 for e in log)
    assert os.path.getsize(out / "last.pt") > 0


@pytest.mark.parametrize("layout", ["tbs", "direct"])
def test_the_baseline_layouts_train_and_generate(small_dataset, tmp_path, layout):
    out = tmp_path / layout
    train(small_dataset, out, "--layout", layout, "--stages", "3", "stages.textual_tis.steps=3")
    assert [e["stage"] for e in read_log(out)] == ["textual_tis"] * 3
    generation = generate([str(out), "--question", "How much is two and three?", "--wav",
                           str(tmp_path / "r.wav"), "--max_tokens", "30"])
    if layout == "direct":
        assert REASONING not in generation.labels


def test_a_base_is_fine_tuned_per_layout_with_a_slot_embedding(small_dataset, tmp_path):
    base = tmp_path / "base"
    train(small_dataset, base, "--stages", "2", "--layout", "tbs", "stages.math_pretraining.question=text")
    solved = read_log(base)
    assert [e["stage"] for e in solved] == ["math_pretraining"] * 4
    assert "operand" in solved[-1]["holdout_digits"] and "result" in solved[-1]["holdout_digits"]
    state = torch.load(base / "stage2-math_pretraining.pt", weights_only=True)
    tuned = tmp_path / "tis"
    train(small_dataset, tuned, "--stages", "3", f"init_from={base / 'stage2-math_pretraining.pt'}",
          "slot_embedding=true")
    after = torch.load(tuned / "last.pt", weights_only=True)
    assert after["vocab"] == state["vocab"] and "thinker.slots.weight" in after["model"]
    assert not torch.equal(after["model"]["thinker.slots.weight"][1:], torch.zeros_like(
        after["model"]["thinker.slots.weight"][1:]))
    assert "response_number" in read_log(tuned)[-1]["holdout_digits"]
    generation = generate([str(tuned), "--question", "How much is two and three?", "--wav",
                           str(tmp_path / "r.wav"), "--max_tokens", "30"])
    assert -1 not in generation.ids


def test_a_stage_ends_at_its_plateau(small_dataset, tmp_path):
    out = tmp_path / "plateau"
    train(small_dataset, out, "--stages", "3", "stages.textual_tis.steps=40", "eval_every=1", "plateau=1",
          "stages.textual_tis.lr=0.0")
    log = read_log(out)
    assert len(log) < 40 and log[-1].get("plateau") is True
    assert (out / "stage3-textual_tis.pt").exists()


def test_a_resume_with_other_settings_is_refused(small_dataset, tmp_path):
    out = tmp_path / "resumed"
    train(small_dataset, out, "--stages", "3")
    again = train(small_dataset, out, "--stages", "3", "stages.textual_tis.steps=20", check=False)
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert "stages.textual_tis.steps 12 -> 20" in again.stderr.strip().splitlines()[-1]


def test_a_checkpoint_is_read_as_data_never_run(small_dataset, tmp_path):
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    out = tmp_path / "hostile"
    out.mkdir()
    with (out / "last.pt").open("wb") as handle:
        pickle.dump({"model": Payload()}, handle)
    for command in (["-m", "training", "--data", str(small_dataset), "--out", str(out), *TINY],
                    ["-m", "training", "generate", str(out), "--question", "Two and two?"],
                    ["-m", "eval", "model", str(out), "--data", str(small_dataset), "--limit", "1"]):
        result = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode != 0 and "not a checkpoint this trainer wrote" in result.stderr
        assert "Traceback" not in result.stderr
    (out / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    result = subprocess.run([sys.executable, "-m", "training", "generate", str(out), "--question", "Hi?"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "not a checkpoint this trainer wrote" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "pwned").exists()


def test_digits_are_told_apart_by_kind(small_dataset):
    from training.data import digit_kinds

    tokenizer = load_tokenizer("qwen2.5")
    vocab = Vocab.scan(shard_files(small_dataset))
    row = rows(small_dataset, 1)[0]
    for layout in LAYOUTS:
        example = make_example(row, Task("speak", "text", layout), vocab)
        kinds = digit_kinds(example, vocab, tokenizer)
        target = vocab.decode(example.ids[example.first_target:])
        found = {}
        for token, kind in zip(target, kinds[example.first_target:], strict=True):
            found.setdefault(kind, []).append(tokenizer.decode([token]))
        assert all(text.isdigit() for kind, texts in found.items() if kind for text in texts)
        assert 3 in found and (1 in found or 2 in found) == (layout != "direct")
        assert not any(kinds[:example.first_target])


@pytest.mark.parametrize("options", [["slot_embedding=true", "stream_positions=true"], []])
def test_greedy_decoding_is_what_teacher_forcing_predicts(small_dataset, tmp_path, options):
    """Step-by-step decoding (KV cache, slot embedding, stream positions) sees what training
    sees: each generated token is the argmax of the model run over the whole sequence."""
    from training.generate import Speaker
    from training.train import embed

    out = tmp_path / "tis"
    train(small_dataset, out, "--stages", "3", *options)
    speaker = Speaker(out)
    row = rows(small_dataset, 1)[0]
    generation = speaker.answer(question=speaker.tokenizer.decode(row["question_ids"]), max_tokens=60)
    dense = speaker.vocab.encode(generation.ids)
    markers = [speaker.vocab.markers["<|question_end|>"], speaker.vocab.markers["<|answer|>"]]
    prefix = speaker.vocab.encode(speaker.tokenizer.encode(speaker.tokenizer.decode(row["question_ids"])))
    prefix += markers
    example = make_example(row, Task("speak", "text"), speaker.vocab)
    example.ids, example.labels = prefix + dense, [TEXT] * len(prefix) + generation.labels
    recipe = load_recipe(RECIPES / "small.yaml", [])
    from training.train import mel_config

    batch = collate([example], recipe["loss_weights"], 512, mel_config(recipe), 4)
    with torch.no_grad():
        _, logits, _ = speaker.model.thinker(embed(speaker.model, batch), positions=batch.positions)
    predicted = logits[0, len(prefix) - 1:len(prefix) - 1 + len(dense)]
    scores = predicted.masked_fill(speaker._barred(), -torch.inf)
    assert scores.argmax(-1).tolist() == dense


def test_bad_training_data_is_a_one_line_error_naming_the_file(small_dataset, tmp_path):
    import shutil

    cases = {}
    empty = tmp_path / "empty"
    (empty / "data").mkdir(parents=True)
    cases["no data/train-"] = empty
    truncated = tmp_path / "truncated"
    shutil.copytree(small_dataset, truncated)
    shard = sorted((truncated / "data").glob("train-*.parquet"))[-1]
    shard.write_bytes(shard.read_bytes()[:300])
    cases[f"{shard}: not a readable Parquet shard"] = truncated
    for message, data in cases.items():
        result = train(data, tmp_path / "out", check=False)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert message in result.stderr.strip().splitlines()[-1]
