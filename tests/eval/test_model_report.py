import json
import subprocess
import sys
from pathlib import Path

from eval.model_report import bootstrap, main
from eval.stream_score import category, heard_times, playback_stalls, score_equations, score_stream
from pipeline.dataset.shards import read_rows, shard_files
from pipeline.stages.interleave import arrange, schedule, tokenize_stream
from pipeline.text.answers import numeric
from pipeline.text.latex import spoken_values
from pipeline.tokenizers import load_tokenizer
from training.train import read_log

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ["id", "source", "metadata", "question", "problem", "answer", "reasoning", "response", "tokenizer",
           "p", "q", "interleaved_ids"]


def rows(dataset, count=6):
    return list(read_rows(shard_files(dataset), COLUMNS))[:count]


def test_the_gold_stream_scores_clean(small_dataset):
    tokenizer = load_tokenizer("qwen2.5")
    for row in rows(small_dataset):
        score = score_stream(row["interleaved_ids"], row, tokenizer, "tis", row["p"], row["q"])
        assert score.correct and score.drift is None and score.format_errors == [] and score.stalls == 0
        assert score.first_spoken == 0 and score.first_substantive > score.first_spoken
        assert score.answer_at >= score.first_substantive
        for layout in ("tbs", "direct"):
            arranged, _ = arrange(row, row["tokenizer"], layout, row["p"], row["q"])
            assert score_stream(arranged.ids, row, tokenizer, layout, row["p"], row["q"]).correct


def test_planted_errors_are_found(small_dataset):
    tokenizer = load_tokenizer("qwen2.5")
    special = tokenizer.special
    for row in rows(small_dataset):
        p, q, ids = row["p"], row["q"], row["interleaved_ids"]
        reasoning = tokenize_stream(tokenizer, row["reasoning"], "\n")
        response = tokenize_stream(tokenizer, [s["text"] for s in row["response"]], " ")
        # the answer said before anything else, as a model that guessed it would: a whole last
        # sentence moved first can take so many slots that the reasoning reaches it in time
        answer_first = [tokenizer.encode(f"{row['answer']}."), *response.pieces]
        hasty = schedule(answer_first, [0] * len(answer_first), reasoning.pieces, p, q,
                         special.response_pad, special.reasoning_pad, special.eos)
        if numeric(row["answer"]) not in spoken_values(row["question"] + " " + row["problem"]):
            assert score_stream(hasty.ids, row, tokenizer, "tis", p, q).drift is not None
        invented = [tokenizer.encode("The answer is 987654."), *response.pieces[1:]]
        guessed = schedule(invented, [0] * len(invented), reasoning.pieces, p, q,
                           special.response_pad, special.reasoning_pad, special.eos)
        assert score_stream(guessed.ids, row, tokenizer, "tis", p, q).drift == "987654"

        slot = next(i for i in range(len(ids)) if i % (p + q) >= p)
        misplaced = ids[:slot] + [special.response_pad] + ids[slot + 1:]
        assert "pad_in_wrong_slot" in score_stream(misplaced, row, tokenizer, "tis", p, q).format_errors
        assert "missing_eos" in score_stream(ids[:-1], row, tokenizer, "tis", p, q).format_errors
        assert "tokens_after_eos" in score_stream(ids + ids[:3], row, tokenizer, "tis", p, q).format_errors
        silent = score_stream([special.eos], row, tokenizer, "tis", p, q)
        assert "missing_answer" in silent.format_errors and not silent.correct
        wrong = score_stream(ids, {**row, "answer": "123457"}, tokenizer, "tis", p, q)
        assert not wrong.correct and wrong.drift is None


def test_stalls_and_intervals():
    assert playback_stalls([0, 1, 2, 3], decode_rate=50, speaking_rate=3) == 0
    assert playback_stalls([0, 500, 1000], decode_rate=50, speaking_rate=3) == 2
    assert bootstrap([True] * 10) == (1.0, 1.0)
    low, high = bootstrap([True, False] * 20)
    assert low < 0.5 < high
    assert category({"reasoning": ["a"], "source": "gsm8k"}) == "contextual_single_step"
    assert category({"reasoning": ["a", "b", "c"], "source": "equation"}) == "arithmetic_long"


def test_eval_model_on_a_trained_checkpoint(small_dataset, tmp_path, capsys):
    out = tmp_path / "train"
    subprocess.run([sys.executable, "-m", "training", "--data", str(small_dataset), "--out", str(out),
                    "--stages", "3", "model.layers=1", "model.width=32", "model.heads=2", "data.batch_size=4",
                    "stages.textual_tis.steps=3", "eval_every=3"], cwd=ROOT, check=True, capture_output=True)
    assert len(read_log(out)) == 3
    reports = main([str(out), "--data", str(small_dataset), "--limit", "3", "--max_tokens", "40",
                    "--out", str(tmp_path / "report")])
    report = reports[0]
    assert report["items"] == 3 and report["layout"] == "tis"
    assert 0.0 <= report["accuracy_95"][0] <= report["accuracy"] <= report["accuracy_95"][1] <= 1.0
    assert set(report["format_errors"]) == {"pad_in_wrong_slot", "missing_eos", "tokens_after_eos",
                                            "missing_answer"}
    assert json.loads((tmp_path / "report" / "model_report.json").read_text())["checkpoints"][0]["items"] == 3
    assert {"operand", "result", "response_number"} <= set(report["digits"])
    assert report["speaking_rate"] > 1  # the dataset's own audio: response tokens a second
    printed = capsys.readouterr().out
    assert "first substantive word" in printed and "teacher-forced digits: operand" in printed


def test_latency_is_measured_as_heard():
    """A planted stream whose answer is heard at a known second: generation instant, speech
    at 2 tokens a second, so the k-th response token starts at k / 2 s."""
    tokenizer = load_tokenizer("qwen2.5")
    special = tokenizer.special
    row = {"question": "Ann has 3 pens and buys 4 more. How many pens does she have?", "answer": "7"}
    reasoning = tokenize_stream(tokenizer, ["3+4 = 7."], "\n")
    response = tokenize_stream(tokenizer, ["Okay, let me see.", "She has 7 pens."], " ")
    layout = schedule(response.pieces, [0, 1], reasoning.pieces, 2, 8, special.response_pad,
                      special.reasoning_pad, special.eos)
    spoken = [t for piece in response.pieces for t in piece]
    seven = spoken.index(tokenizer.encode("7")[0])
    instant = score_stream(layout.ids, row, tokenizer, "tis", 2, 8, decode_rate=1e9, speaking_rate=2.0)
    assert instant.correct
    assert abs(instant.first_substantive_heard - seven / 2) < 1e-6
    assert abs(instant.answer_heard - (seven + 1) / 2) < 1e-6
    slow = score_stream(layout.ids, row, tokenizer, "tis", 2, 8, decode_rate=1.0, speaking_rate=1e9)
    assert abs(slow.answer_heard - (layout.response_positions[seven] + 1)) < 1e-6
    assert heard_times([0, 1, 50], decode_rate=10, speaking_rate=2) == [0.1, 0.6, 5.1]


def test_equations_are_scored_for_copied_operands_and_right_results():
    question = "Ann buys 4 pens at 3 dollars each and 2 pads at 5 dollars each."
    assert score_equations("4*3 = 12. 2*5 = 10. 12+10 = 22.", question) == (3, 3, 3)
    assert score_equations("4*7 = 28. 28+10 = 39.", question) == (2, 0, 1)
    assert score_equations("no equations here", question) == (0, 0, 0)
