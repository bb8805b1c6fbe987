"""No record can hold a worker: a stage stuck on one record gives it up as a reject
(``record_timeout``), and math-verify, which sympy can keep in one C call for minutes,
runs where it can be killed (``answer_check_timeout``)."""

import json
import time

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipeline.beam.stage import ApplyStage
from pipeline.cli import run
from pipeline.config import BuildConfig
from pipeline.deadline import RecordTimeout, deadline
from pipeline.stage import Stage
from pipeline.text.answers import AnswerCheckTimeout, same_answer


def _stuck_on_odd_records(config):
    def apply(record: dict) -> dict:
        while record["n"] % 2:  # a pure-Python loop that never ends
            pass
        return {**record, "done": True}
    return apply


def _swallowing(config):
    def apply(record: dict) -> dict:
        try:
            while True:
                pass
        except Exception as error:  # a stage that turns every error into its own
            raise ValueError("not a timeout") from error
    return apply


@pytest.mark.parametrize("make", [_stuck_on_odd_records, _swallowing])
def test_a_stuck_record_is_a_record_timeout_and_the_others_pass(make):
    config = BuildConfig(record_timeout=0.3)
    records = [{"id": str(n), "source": "test", "source_index": n, "n": n} for n in range(6)]
    passed = [n for n in range(6) if make is _stuck_on_odd_records and n % 2 == 0]
    started = time.perf_counter()
    with beam.Pipeline() as pipeline:
        done, rejects = pipeline | beam.Create(records) | ApplyStage(Stage("stuck", None, make), config)
        assert_that(done | beam.Map(lambda r: r["n"]), equal_to(passed), label="Passed")
        assert_that(rejects | beam.Map(lambda r: (r["stage"], r["reason"])),
                    equal_to([("stuck", "record_timeout")] * (6 - len(passed))), label="Rejected")
    assert time.perf_counter() - started < 30  # six records, not forever


def test_a_deadline_that_was_left_never_fires_later():
    with deadline(0.05):
        pass
    time.sleep(0.2)  # no RecordTimeout arrives here
    with pytest.raises(RecordTimeout), deadline(0.05):
        time.sleep(0.01)
        while True:
            pass


def test_math_verify_is_stopped_at_its_limit():
    assert same_answer("\\frac{\\pi}{2}", "\\pi/2")  # the checker is up: only the call is timed
    started = time.perf_counter()
    with pytest.raises(AnswerCheckTimeout):
        same_answer("9^{9^{9}}", "5")  # sympy alone spends minutes in one C call here
    assert time.perf_counter() - started < 30  # stopped, not left to run
    assert same_answer("\\sqrt{2}", "2^{1/2}")  # a fresh checker takes the next comparison


def test_a_row_whose_answer_meets_a_tower_of_powers_is_a_reject(tmp_path):
    rows = [{"q": "What is $2+3$?", "s": "Adding, $2+3=\\boxed{5}$.", "a": "5"},
            {"q": "What is $9^{9^{9}}$?", "s": "It is $\\boxed{9^{9^{9}}}$.", "a": "5"}]
    source = tmp_path / "test.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    started = time.perf_counter()
    summary = run(["--source", f"generic:{source}", "--field", "question=q", "--field", "solution=s",
                   "--field", "answer=a", "--output", str(tmp_path / "out"), "--no_progress"])
    assert summary["inputs"] == 2 == summary["outputs"] + summary["rejects"]
    assert summary["rejects_by_reason"] == {"split/answer_check_timeout": 1}
    assert time.perf_counter() - started < 60
