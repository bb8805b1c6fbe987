import json

from eval.experiment import check_claims, main
from eval.model_report import bootstrap_runs, summarize_layouts


def _report(layout: str, correct: list[bool], first_spoken: int | None, stalls: int = 0) -> dict:
    items = [{"id": str(i), "category": "contextual_multi_step", "correct": c, "first_spoken": first_spoken,
              "generated": 120, "stalls": stalls} for i, c in enumerate(correct)]
    return {"layout": layout, "accuracy": sum(correct) / len(correct), "first_spoken_tokens": first_spoken,
            "answer_tokens": 100, "drift_rate": 0.0, "stalled_items": sum(stalls > 0 for _ in items),
            "silent_items": int(first_spoken is None), "format_errors": {"missing_eos": 0},
            "items_detail": items}


def test_the_seed_interval_holds_the_spread_between_seeds():
    steady = bootstrap_runs([[True, False] * 20] * 3)
    spread = bootstrap_runs([[True] * 40, [False] * 40, [True, False] * 20])
    assert spread[0] < steady[0] <= 0.5 <= steady[1] < spread[1]


def test_claims_are_judged_from_the_figures():
    reports = [_report("tis", [True] * 8 + [False] * 2, 0), _report("tis", [True] * 7 + [False] * 3, 1),
               _report("tbs", [True] * 8 + [False] * 2, 60), _report("tbs", [True] * 8 + [False] * 2, 64),
               _report("direct", [False] * 10, 0), _report("direct", [True] + [False] * 9, 0)]
    layouts = summarize_layouts(reports)
    assert layouts["tis"]["runs"] == 2 and layouts["tis"]["accuracy"] == 0.75
    claims = {c["claim"].split(" ")[1]: c["holds"] for c in check_claims(layouts, 10, 50.0)}
    assert claims == {"speaks": True, "accuracy": True, "and": True, "playback": True}

    slow = [_report("tis", [True] * 3 + [False] * 7, 30, stalls=2), *reports[2:]]
    judged = check_claims(summarize_layouts(slow), 10, 50.0)
    assert [c["holds"] for c in judged] == [False, False, False, False]
    assert "30" in judged[0]["figures"]  # the figures a verdict rests on are given with it


def test_a_layout_that_never_speaks_is_heard_at_the_end_of_its_generation():
    layouts = summarize_layouts([_report("tbs", [False] * 4, None)])
    assert layouts["tbs"]["first_spoken_tokens"] == 120 and layouts["tbs"]["silent_items"] == 1


def test_experiment_end_to_end_on_a_tiny_setting(tmp_path):
    args = ["--out", str(tmp_path), "--train_items", "24", "--test_items", "6", "--seeds", "0,1",
            "--steps", "2",
            "--set", "model.layers=1", "--set", "model.width=32", "--set", "model.heads=2",
            "--set", "data.batch_size=4"]
    result = main(args)
    assert set(result["layouts"]) == {"tis", "tbs", "direct"}
    assert all(line["runs"] == 2 and line["items"] == 2 * result["setup"]["test_rows"]
               for line in result["layouts"].values())
    report = (tmp_path / "report.md").read_text()
    assert "| tis | 2 |" in report and "## Claims" in report
    assert (tmp_path / "accuracy_vs_latency.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "experiment.json").read_text())["claims"]
    again = main(args)  # every run is reused: same figures
    assert again["layouts"] == result["layouts"]
