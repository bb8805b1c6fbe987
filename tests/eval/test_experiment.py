import json

import pytest

from eval.experiment import check_claims, main
from eval.model_report import bootstrap_runs, summarize_layouts


def _report(layout: str, correct: list[bool], first_spoken: int | None, heard: float, answer: float) -> dict:
    items = [{"id": str(i), "category": "contextual_multi_step", "correct": c, "first_spoken": first_spoken,
              "generated": 120, "stalls": 0, "first_substantive_heard": heard + i % 2 * 0.1,
              "answer_heard": answer, "equations": 2, "operands_copied": 2, "results_right": 1 + c}
             for i, c in enumerate(correct)]
    return {"layout": layout, "accuracy": sum(correct) / len(correct), "first_spoken_tokens": first_spoken,
            "answer_tokens": 100, "drift_rate": 0.0, "stalled_items": 0,
            "silent_items": int(first_spoken is None), "format_errors": {"missing_eos": 0},
            "items_detail": items}


def test_the_seed_interval_holds_the_spread_between_seeds():
    steady = bootstrap_runs([[True, False] * 20] * 3)
    spread = bootstrap_runs([[True] * 40, [False] * 40, [True, False] * 20])
    assert spread[0] < steady[0] <= 0.5 <= steady[1] < spread[1]


def test_claims_are_judged_from_the_figures():
    reports = [_report("tis", [True] * 6 + [False] * 4, 0, 3.0, 6.0),
               _report("tis", [True] * 7 + [False] * 3, 0, 3.1, 6.1),
               _report("tbs", [True] * 7 + [False] * 3, 60, 4.2, 7.0),
               _report("tbs", [True] * 7 + [False] * 3, 64, 4.3, 7.1),
               _report("direct", [False] * 10, 0, 3.0, 5.0),
               _report("direct", [True] + [False] * 9, 0, 3.0, 5.0)]
    layouts = summarize_layouts(reports)
    assert layouts["tis"]["runs"] == 2 and layouts["tis"]["accuracy"] == 0.65
    assert abs(layouts["tbs"]["first_substantive_heard"]["mean"] - 4.3) < 1e-9
    assert layouts["tbs"]["results_right"] == 0.85
    judged = check_claims(layouts)
    assert [c["holds"] for c in judged] == [True, True, True, True]
    assert "+65.0 points" in judged[0]["figures"] and "1.20 s sooner" in judged[2]["figures"]

    worse = [_report("tis", [True] * 4 + [False] * 6, 0, 4.0, 7.5), *reports[2:]]
    judged = check_claims(summarize_layouts(worse))
    assert [c["holds"] for c in judged] == [True, False, False, False]


def test_a_layout_that_never_speaks_is_heard_at_the_end_of_its_generation():
    layouts = summarize_layouts([_report("tbs", [False] * 4, None, 1.0, 2.0)])
    assert layouts["tbs"]["first_spoken_tokens"] == 120 and layouts["tbs"]["silent_items"] == 1


TINY = ["--train_items", "30", "--test_items", "6", "--seeds", "0", "--base_steps", "2", "--eval_every", "1",
        "--set", "model.layers=1", "--set", "model.width=32", "--set", "model.heads=2",
        "--set", "data.batch_size=4"]


def test_experiment_end_to_end_on_a_tiny_setting_and_reruns_what_changed(tmp_path):
    tiny = ["--out", str(tmp_path), *TINY]
    result = main([*tiny, "--steps", "2", "--rows", "tbs;direct"])
    assert list(result["layouts"]) == ["tbs", "direct"]
    assert all(line["runs"] == 1 and line["items"] == result["setup"]["test_rows"]
               for line in result["layouts"].values())
    assert result["layouts"]["tbs"]["steps"] == [2]
    assert result["setup"]["speaking_rate"] > 1  # the test set's audio, in response tokens a second
    report = (tmp_path / "report.md").read_text()
    assert "| tbs | 1 |" in report and "## Claims" in report and "first substantive word heard" in report
    assert (tmp_path / "accuracy_vs_latency.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "experiment.json").read_text())["claims"]

    longer = main([*tiny, "--steps", "3", "--rows", "tbs"])  # sets and base reused, the run redone
    assert longer["setup"]["reused"] == 3 and longer["layouts"]["tbs"]["steps"] == [3]
    again = main([*tiny, "--steps", "3", "--rows", "tbs"])
    assert again["setup"]["reused"] == 4 and again["layouts"] == longer["layouts"]
    other = main([*tiny, "--steps", "3", "--rows", "tbs", "--set", "data.batch_size=2"])
    assert other["setup"]["reused"] == 2  # the base and the run are trained anew


@pytest.mark.slow
def test_every_row_of_the_experiment_runs_by_default(tmp_path):
    """Each of the eight rows, the tis curriculum from the tbs checkpoint included (nine
    training jobs: about two minutes here, so it runs with the slow tests)."""
    result = main(["--out", str(tmp_path), *TINY, "--steps", "2", "--curriculum_steps", "2"])
    assert list(result["layouts"]) == ["tis", "tbs", "direct", "tis, free decoding", "tis from the base",
                                       "tis from scratch", "tbs from scratch", "direct from scratch"]
    assert result["layouts"]["tis"]["steps"] == ["2 + 2"]
    assert all(line["runs"] == 1 for line in result["layouts"].values())
    assert "| tis | 1 |" in (tmp_path / "report.md").read_text()
