import pyarrow as pa
import pyarrow.parquet as pq

from eval.dataset_report import build_report, cycle_ok, main
from pipeline.text.listening import DEFECTS


def test_report_rechecks_every_row(small_dataset, tmp_path):
    report = main(["--data", str(small_dataset), "--out", str(tmp_path)])
    assert report["rows"] == 48 and report["rows_with_problems"] == 0
    assert report["figures"]["first_substantive_seconds"]["median"] > 0
    assert (tmp_path / "report.md").read_text().startswith("# Dataset report")


def test_report_finds_a_tampered_row(small_dataset, tmp_path):
    shard = next((small_dataset / "data").glob("*.parquet"))
    table = pq.read_table(shard)
    ids = table.column("interleaved_ids").to_pylist()
    ids[0] = [*ids[0][:-2], ids[0][-1], ids[0][-2]]
    tampered = table.set_column(table.schema.get_field_index("interleaved_ids"),
                                table.schema.field("interleaved_ids"), pa.array(ids, pa.list_(pa.int32())))
    (tmp_path / "data").mkdir()
    pq.write_table(tampered, tmp_path / "data" / "train-00000-of-00001.parquet")
    report = build_report(tmp_path)
    assert report["rows_with_problems"] == 1
    assert report["problems"] == {"re-interleaving gives other ids": 1}


def test_cycle_check():
    assert cycle_ok([0, 0, 1, 1, 2, 0, 3, 3, 4], 2, 2)
    assert not cycle_ok([0, 1, 0, 1, 4], 2, 2)


def _replace(table: pa.Table, name: str, values: list) -> pa.Table:
    field = table.schema.field(name)
    return table.set_column(table.schema.get_field_index(name), field, pa.array(values, field.type))


def test_report_counts_what_a_listener_would_hear_as_wrong(small_dataset, tmp_path):
    table = pq.read_table(sorted((small_dataset / "data").glob("*.parquet"))[0])
    # rows with the most response parts first: a planted part never leaves a row without explanation
    table = table.take(sorted(range(table.num_rows), key=lambda i: -len(table["response"][i])))
    responses = table.column("response").to_pylist()
    questions = table.column("question").to_pylist()
    planted = ["He has seen 48 chimp legs because 48.",  # bare_reason
               "First find how long Carly runs: 2 miles times 7 miles.",  # half_equation
               None,  # no_explanation, below
               "The ratio is fifty fifths, which is 10.",  # ordinal_division
               "So x is n to the power of th.",  # ordinal_exponent
               "We use \\frac{3}{5} of it."]  # unspoken_markup
    for row, text in enumerate(planted):
        if text:
            responses[row][1]["text"] = text
    last = responses[2][-1]["after_step"]
    responses[2] = [responses[2][0], {"text": "So the answer is 23.", "after_step": last}]  # no_explanation
    answers = table.column("answer").to_pylist()
    responses[6][-1]["text"] = f"So the answer is negative {answers[6]}."  # sign_mismatch
    for row, text in ((7, "It costs 40 cents cents per mile."), (8, "Pupils in grades 4 minus 7 vote."),
                      (9, "\u0410lice has 3 apples.")):  # doubled_unit, dash_as_minus, confusable_letters
        questions[row] = text
    durations = table.column("response_duration").to_pylist()
    durations[10] = 25.0  # long_response
    for row, text in ((11, "What is f of (x) when x is 2?"), (12, "Ann counts. Bullet the first box has 3."),
                      (13, "She ate 2 one sixth pies."), (14, "He paid (3 dollars for it."),
                      (15, "A rug is 10 times 8 feet. What does it cost?")):
        questions[row] = text  # function_parenthesis, bullet_said, mixed_number, stray_parenthesis, dimension
    problems, reasoning = table.column("problem").to_pylist(), table.column("reasoning").to_pylist()
    for row, problem, question in ((16, "We deliver Monday-Wednesday.", "We deliver Monday, Wednesday."),
                                   (17, "Plot the point (12,102).", "Plot the point 12102."),
                                   (18, "Pick x in [0,25].", "Pick x in (0, 25).")):
        problems[row], questions[row] = problem, question  # dash_as_comma, pair_as_number, interval
    reasoning[19][0] = "So 4x + 60 = 100."  # cut_algebra: the response says only the right side
    responses[19][1] = {"text": "Now we combine like terms to get 100.", "after_step": 1}
    tampered = table
    for name, values in (("response", responses), ("question", questions), ("response_duration", durations),
                         ("problem", problems), ("reasoning", reasoning)):
        tampered = _replace(tampered, name, values)
    (tmp_path / "data").mkdir()
    pq.write_table(tampered, tmp_path / "data" / "train-00000-of-00001.parquet")
    report = build_report(tmp_path)
    assert report["spoken_defects"] == dict.fromkeys(DEFECTS, 1)
    assert set(build_report(small_dataset)["spoken_defects"].values()) == {0}
