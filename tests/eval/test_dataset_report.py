import pyarrow as pa
import pyarrow.parquet as pq

from eval.dataset_report import build_report, cycle_ok, main


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


def test_report_counts_what_a_listener_would_hear_as_wrong(small_dataset, tmp_path):
    shard = next((small_dataset / "data").glob("*.parquet"))
    table = pq.read_table(shard)
    responses = table.column("response").to_pylist()
    planted = ["He has seen 48 chimp legs because 48.",  # bare_reason
               "First find how long Carly runs: 2 miles times 7 miles."]  # half_equation
    for row, text in enumerate(planted):
        responses[row][1]["text"] = text
    last = responses[2][-1]["after_step"]
    responses[2] = [responses[2][0], {"text": "So the answer is 23.", "after_step": last}]  # no_explanation
    field = table.schema.field("response")
    tampered = table.set_column(table.schema.get_field_index("response"), field,
                                pa.array(responses, field.type))
    (tmp_path / "data").mkdir()
    pq.write_table(tampered, tmp_path / "data" / "train-00000-of-00001.parquet")
    report = build_report(tmp_path)
    assert report["spoken_defects"] == {"bare_reason": 1, "half_equation": 1, "no_explanation": 1}
    assert build_report(small_dataset)["spoken_defects"]["bare_reason"] == 0
