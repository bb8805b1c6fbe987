"""Every source format, every container (JSONL, Parquet, a Hub-style dataset folder),
per-source limits and weights."""

import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.beam.source import ReadSource, count_inputs
from pipeline.config import BuildConfig
from pipeline.reject import Reject
from pipeline.sources import parse_source
from pipeline.sources.final_answers import final_answer
from pipeline.sources.formats import generic_format, parse_line

ROWS = {
    "math": {"problem": "What is $\\frac{1}{2}+\\frac{1}{3}$?", "level": "Level 1",
             "type": "Prealgebra", "solution": "The sum is $\\boxed{\\frac{5}{6}}$."},
    "orca": {"question": "Ann has 3 pens and buys 4 more. How many pens?",
             "answer": "She has 3 + 4 = 7 pens in all."},
    "metamath": {"query": "What is 6 times 7?", "response": "6 x 7 = 42.\nThe answer is: 42",
                 "type": "GSM_Rephrased"},
}


@pytest.mark.parametrize("fmt", sorted(ROWS))
def test_each_format_reads_its_fields_and_final_answer(fmt):
    record = parse_line(fmt, fmt, "train", 0, json.dumps(ROWS[fmt]).encode(), 8000, "file.jsonl")
    assert record["answer"] == {"math": "\\frac{5}{6}", "orca": "7", "metamath": "42"}[fmt]
    assert record["metadata"]["origin"] == "file.jsonl"
    if fmt == "math":
        assert record["metadata"] | {"origin": ""} == {"type": "Prealgebra", "level": "Level 1", "origin": ""}


def test_final_answers_in_every_style():
    assert final_answer("so 5\n#### 1,200") == "1200"
    assert final_answer("so 24\n#### 24\nThe answer is: 24") == "24"  # MetaMathQA's GSM rows
    assert final_answer("thus $x = \\boxed{\\dfrac{9}{7}}$.") == "\\dfrac{9}{7}"
    assert final_answer("nested $\\boxed{\\frac{\\sqrt{3}}{2}}$") == "\\frac{\\sqrt{3}}{2}"
    assert final_answer("The answer is: 12") == "12"
    assert final_answer("no number here") is None
    assert final_answer("she ends with 20 apples.", last_number=True) == "20"


def test_generic_sources_map_their_columns():
    fmt = generic_format({"question": "prompt", "solution": "completion", "level": "difficulty"})
    raw = json.dumps({"prompt": "What is 2+2?", "completion": "2+2=4. The answer is 4",
                      "difficulty": 3}).encode()
    record = parse_line(fmt, "generic", "train", 0, raw, 8000)
    assert (record["problem"], record["answer"], record["metadata"]["level"]) == ("What is 2+2?", "4", "3")
    with pytest.raises(ValueError):
        generic_format({"question": "prompt"})
    with pytest.raises(Reject) as rejected:
        parse_line(fmt, "generic", "train", 0, json.dumps({"prompt": "x?", "completion": "no"}).encode(), 80)
    assert rejected.value.reason == "missing_final_answer"


def test_source_options_are_parsed_and_checked():
    spec = parse_source("math:hub:EleutherAI/hendrycks_math?config=algebra&split=test&limit=5")
    assert (spec.hub, spec.dataset, spec.config, spec.split, spec.limit) == (
        True, "EleutherAI/hendrycks_math", "algebra", "test", 5)
    assert parse_source("gsm8k:a.jsonl?weight=0.25").weight == 0.25
    for bad in ("gsm8k:a.jsonl?weight=2", "gsm8k:a.jsonl?limit=0", "gsm8k:a.jsonl?colour=red",
                "nosuch:a.jsonl", "gsm8k:"):
        with pytest.raises(ValueError):
            parse_source(bad)


def _read(spec_text: str, rows: list[dict], origin: str) -> int:
    """Read a source through Beam, check every row arrived as a record, return the count."""
    spec = parse_source(spec_text)
    config = BuildConfig()
    with BeamTestPipeline(runner="DirectRunner") as pipeline:
        _, records, rejects = pipeline | ReadSource(spec, config, None)
        seen = records | beam.Map(lambda r: (r["source_index"], r["problem"], r["metadata"]["origin"]))
        assert_that(seen, equal_to([(i, row["problem"], origin) for i, row in enumerate(rows)]))
        assert_that(rejects, equal_to([]), label="NoRejects")
    return count_inputs(spec, None, config.seed)


def _math_rows(n: int) -> list[dict]:
    return [{**ROWS["math"], "problem": f"What is ${i}+1$?", "solution": f"It is $\\boxed{{{i + 1}}}$."}
            for i in range(n)]


def test_parquet_files_read_like_jsonl(tmp_path):
    rows = _math_rows(7)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "train-00000-of-00001.parquet")
    assert _read(f"math:{tmp_path}/*.parquet", rows, "train-00000-of-00001.parquet") == 7


def test_a_dataset_folder_reads_through_load_dataset(tmp_path):
    rows = _math_rows(5)
    folder = tmp_path / "my_math"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert _read(f"math:hub:{folder}", rows, str(folder)) == 5


def test_limit_and_weight_choose_the_same_rows_every_time(tmp_path):
    rows = _math_rows(200)
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    first = count_inputs(parse_source(f"math:{path}?weight=0.5"), None, 0)
    assert 70 < first < 130
    assert count_inputs(parse_source(f"math:{path}?weight=0.5"), None, 0) == first
    assert count_inputs(parse_source(f"math:{path}?limit=30"), 10, 0) == 10
    assert count_inputs(parse_source(f"math:{path}?limit=30"), None, 0) == 30


AQUA = [
    {"question": "A train travels 120 miles in 2 hours. How fast does it go, in miles per hour?",
     "options": ["A)50 mph", "B)60 mph", "C)70 mph", "D)80 mph", "E)90 mph"],
     "rationale": "The speed is 120/2 = 60 miles per hour.\nAnswer: B", "correct": "B"},
    {"question": "Tom has 12 apples and gives away 5. How many apples does he have left?",
     "options": ["A)5", "B)6", "C)7", "D)8", "E)9"],
     "rationale": "He has 12 - 5 = 7 apples left.\nANSWER:C", "correct": "C"},
    {"question": "Which expression is twice x plus one?",
     "options": ["A)x+1", "B)2x+1", "C)2x", "D)x", "E)1"],
     "rationale": "Twice x is 2x, plus one is 2x+1.\nAnswer: B", "correct": "B"},
    {"question": "How many are there?", "options": ["A)1", "B)2", "C)3", "D)4", "E)None of these"],
     "rationale": "None fit.\nAnswer: E", "correct": "E"},
]


def test_multiple_choice_becomes_an_open_question_with_the_options_value():
    rows = [parse_line("aqua", "aqua", "train", 0, json.dumps(row).encode(), 10_000) for row in AQUA[:2]]
    assert [r["answer"] for r in rows] == ["60", "7"]
    assert rows[0]["solution"] == "The speed is 120/2 = 60 miles per hour."  # no "Answer: B" read aloud
    for row in AQUA[2:]:
        with pytest.raises(Reject) as rejected:
            parse_line("aqua", "aqua", "train", 0, json.dumps(row).encode(), 10_000)
        assert rejected.value.reason == "choice_not_a_number"


def test_multiple_choice_through_the_pipeline(tmp_path):
    from pipeline.cli import run

    source = tmp_path / "aqua.jsonl"
    inline = {"question": "Pick one: A)25, B)32, C)40. How many?", "answer": "#### 32"}
    source.write_text("\n".join(json.dumps(row) for row in AQUA) + "\n")
    (tmp_path / "inline.jsonl").write_text(json.dumps(inline) + "\n")
    summary = run(["--source", f"aqua:{source}", "--source", f"gsm8k:{tmp_path / 'inline.jsonl'}",
                   "--output", str(tmp_path / "out"), "--no_progress"])
    rows = pq.read_table(tmp_path / "out" / "data").to_pylist()
    assert summary["inputs"] == 5 == summary["outputs"] + summary["rejects"]
    assert sorted(r["answer"] for r in rows) == ["60", "7"]
    assert all("Answer" not in " ".join(r["reasoning"]) for r in rows)
    assert summary["rejects_by_reason"] == {"source/choice_not_a_number": 2, "rewrite/multiple_choice": 1}


AQUA_AS_WRITTEN = [
    {"question": "A train 130 metres long and travelling at 45 km/hr can cross a bridge in 30 seconds. "
                 "What is the length of the bridge?",
     "options": ["A)200 m", "B)225 m", "C)245 m", "D)250 m", "E)270 m"],
     "rationale": "Speed = (45 * 5/18) m/sec = 25/2 m/sec.\nTime = 30 sec.\nLet the length of bridge be "
                  "x metres.\nThen, (130 + x)/30 = 25/2\n==> 2(130 + x) = 750 ==> x = 245 m.\nAnswer: C",
     "correct": "C"},
    {"question": "What is the least number which when divided by 5, 6, 7 and 8 leaves a remainder 3?",
     "options": ["A)843", "B)1683", "C)2523", "D)3363", "E)None of these"],
     "rationale": "Required number = (L.C.M. of 5, 6, 7, 8) + 3\n= 840 + 3\n= 843\nAnswer: Option A",
     "correct": "A"},
    {"question": "In how many ways can the letters of the word LEADER be arranged?",
     "options": ["A)72", "B)144", "C)360", "D)720", "E)None"],
     "rationale": "The word LEADER contains 6 letters, namely 1L, 2E, 1A, 1D and 1R.\nRequired number of "
                  "ways = 6!/(1!)(2!)(1!)(1!)(1!) = 360.\nAnswer: C", "correct": "C"},
    {"question": "The sum of two numbers is 25 and their difference is 13. Find their product.",
     "options": ["A)104", "B)114", "C)315", "D)325", "E)None"],
     "rationale": "Let the numbers be x and y.\nThen, x + y = 25 and x - y = 13.\n4xy = (x + y)^2 - (x- y)^2"
                  "\n= (25)^2 - (13)^2\n= (625 - 169)\n= 456\nxy = 114.\nAnswer: B", "correct": "B"},
]


def test_multiple_choice_rationales_as_aqua_writes_them_are_kept_and_explained(tmp_path):
    """One calculation a line with no period, "==>", "6!", an option with its unit ("245 m") and
    "Answer: Option A": every row is kept, and its response says a step, not only the answer."""
    from pipeline.cli import run

    record = parse_line("aqua", "aqua", "train", 0, json.dumps(AQUA_AS_WRITTEN[1]).encode(), 10_000)
    assert record["answer"] == "843" and "Option" not in record["solution"]
    record = parse_line("aqua", "aqua", "train", 0, json.dumps(AQUA_AS_WRITTEN[0]).encode(), 10_000)
    assert record["answer"] == "245"
    source = tmp_path / "aqua.jsonl"
    source.write_text("\n".join(json.dumps(row) for row in AQUA_AS_WRITTEN) + "\n")
    summary = run(["--source", f"aqua:{source}", "--output", str(tmp_path / "out"), "--tts", "none",
                   "--no_progress"])
    assert summary["outputs"] == len(AQUA_AS_WRITTEN), summary["rejects_by_reason"]
    for row in pq.read_table(tmp_path / "out" / "data").to_pylist():
        said = [s["text"] for s in row["response"] if s["after_step"]]
        assert [text for text in said if not text.startswith("So the answer is")], row["response"]
        assert not any(word in " ".join(said) for word in ("equals equals", "greater than", "!"))
