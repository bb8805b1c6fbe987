import io
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from eval.dataset_report import main
from pipeline.cli import run
from tests.chromium import Chromium, chromium_binary

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "gsm8k" / "train.jsonl"

# Every audio element's source, decoded by the browser's own audio decoder: its duration.
DECODE_AUDIO = """Promise.all([...document.querySelectorAll("audio")].map(a =>
  fetch(a.src).then(r => r.arrayBuffer())
    .then(b => new OfflineAudioContext(1, 1, 16000).decodeAudioData(b)).then(buf => buf.duration)))"""

FILTER = """(() => {
  const select = document.getElementById("status");
  select.value = "kept";
  select.dispatchEvent(new Event("change"));
  const rendered = [...document.querySelectorAll(".item")];
  return {rendered: rendered.length, kept: rendered.every(i => i.dataset.status === "kept"),
          total: JSON.parse(document.getElementById("data").textContent).length,
          shown: document.getElementById("shown").textContent};
})()"""

# A search for one reject's id: that item alone.
SEARCH = """(id => {
  document.getElementById("status").value = "";
  const search = document.getElementById("search");
  search.value = id;
  search.dispatchEvent(new Event("input"));
  return [...document.querySelectorAll(".item")].map(i => i.dataset.status);
})"""


@pytest.fixture(scope="module")
def dataset_with_rejects(tmp_path_factory):
    """Two sources, with rows that are rejected (an empty problem, a malformed line)."""
    folder = tmp_path_factory.mktemp("browsed")
    lines = SHARED.read_text().splitlines()[:3] if SHARED.exists() else []
    lines += [json.dumps({"question": "", "answer": "#### 3"}), "{not json"]
    source = folder / "mixed.jsonl"
    source.write_text("\n".join(lines) + "\n")
    run(["--source", "generate:6", "--source", f"gsm8k:{source}", "--output", str(folder / "out")])
    return folder / "out"


def test_report_writes_plots_and_a_browser_page(dataset_with_rejects, tmp_path):
    main(["--data", str(dataset_with_rejects), "--out", str(tmp_path)])
    for name in ("delays", "lengths", "speaking_rates", "durations", "rejects"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
        assert f"({name}.png)" in (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    assert "http://" not in page and "https://" not in page  # nothing to fetch: it opens offline
    assert page.count("data:audio/ogg;base64,") >= 12


@pytest.mark.skipif(not chromium_binary() and not os.environ.get("REQUIRE_CHROMIUM"), reason="needs chromium")
def test_browser_page_in_headless_chromium(dataset_with_rejects, tmp_path):
    assert chromium_binary(), "REQUIRE_CHROMIUM is set (CI installs chromium): it must be here"
    main(["--data", str(dataset_with_rejects), "--out", str(tmp_path)])
    with Chromium(tmp_path / "profile") as browser:
        browser.open((tmp_path / "report.html").as_uri())
        durations = browser.evaluate(DECODE_AUDIO)
        assert len(durations) >= 12 and all(d > 0.3 for d in durations)
        statuses = browser.evaluate('[...document.querySelectorAll(".item")].map(i => i.dataset.status)')
        assert "kept" in statuses and any(s.startswith(("source/", "rewrite/")) for s in statuses)
        filtered = browser.evaluate(FILTER)
        assert filtered["kept"] and 0 < filtered["rendered"] <= 25
        assert filtered["rendered"] < filtered["total"]
        assert filtered["shown"].startswith(f"{filtered['rendered']} of {filtered['total']} items match")
        pads = browser.evaluate('document.querySelectorAll(".cycles .response_pad").length')
        assert pads > 0
        assert browser.evaluate('[...document.querySelectorAll(".cycles span")].every(s => '
                                '!s.textContent.includes("\\n"))')  # a cycle stays one row
        reject = next(s for s in statuses if s != "kept")
        reject_id = browser.evaluate(f'JSON.parse(document.getElementById("data").textContent)'
                                     f'.find(i => i.status === "{reject}").id')
        assert browser.evaluate(f"({SEARCH})({json.dumps(reject_id)})") == [reject]
        image = Image.open(io.BytesIO(browser.screenshot())).convert("RGB")
        assert image.width > 300 and image.height > 300
        assert len(image.getcolors(1 << 20) or range(1 << 20)) > 50  # drawn, not a blank page
        assert browser.errors() == []
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_problem_text_cannot_break_out_of_the_page_data(tmp_path):
    """``<!--<script>`` or ``</script>`` in a problem is data, never markup: every item renders."""
    hostile = ["Tom has 3 <!--<script> apples and buys 4 more. How many apples?",
               "Ann has 5 </script><script>alert(1)</script> pens and gives away 2. How many pens are left?"]
    source = tmp_path / "hostile.jsonl"
    source.write_text("\n".join(json.dumps({"question": q, "answer": f"It is so.\n#### {a}"})
                                for q, a in zip(hostile, (7, 3), strict=True)) + "\n")
    run(["--source", f"gsm8k:{source}", "--source", "generate:2", "--output", str(tmp_path / "out")])
    main(["--data", str(tmp_path / "out"), "--out", str(tmp_path / "report")])
    page = (tmp_path / "report" / "report.html").read_text()
    data = page.split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and ">" not in data
    problems = [item.get("problem", "") for item in json.loads(data)]
    assert any("<!--<script>" in p for p in problems) and any("</script>" in p for p in problems)
    if not chromium_binary():
        return
    with Chromium(tmp_path / "profile") as browser:
        browser.open((tmp_path / "report" / "report.html").as_uri())
        assert browser.evaluate('document.querySelectorAll(".item").length') == 4
        assert browser.evaluate("document.documentElement.textContent.includes('<!--<script>')")
        assert browser.errors() == []
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
