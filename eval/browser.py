"""A self-contained sample browser: one HTML file, no server, audio embedded.

Per item: the original problem and the spoken question, players for the question and
response audio, the reasoning steps, the spoken sentences, and the interleaved stream
drawn cycle by cycle (one row per p+q cycle, coloured by stream, pads and EOS visible, a
newline or tab inside a token shown as a mark so a cycle stays one row). Rejected items
are listed with their stage, reason and detail. The samples come first, a page at a
time, with a search over their text and filters by source and by status; the plots
follow. A deterministic sample (by id hash) of up to a few thousand rows keeps the file
small: audio, re-encoded as Ogg Vorbis, only for the first ``AUDIO_ITEMS`` kept rows.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import html
import io
import json
import string
from collections.abc import Iterator
from pathlib import Path

import soundfile

from pipeline.dataset.shards import dataset_rows
from pipeline.stages.interleave import STREAM_NAMES
from pipeline.tokenizers import load_tokenizer

COLUMNS = ["id", "source", "problem", "question", "reasoning", "response", "tokenizer", "p", "q",
           "interleaved_ids", "interleaved_streams", "question_audio", "response_audio"]


def _sample(rows: Iterator[dict], count: int) -> list[dict]:
    """The ``count`` rows whose id hashes lowest; one pass, ``count`` rows held at a time."""
    return heapq.nsmallest(count, rows, key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest())


def _audio(audio: dict | None) -> str | None:
    """The clip as an Ogg Vorbis data URI: about a tenth of the WAV, so the page stays small."""
    data = (audio or {}).get("bytes")
    if not data:
        return None
    wave, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    buffer = io.BytesIO()
    soundfile.write(buffer, wave, rate, format="OGG", subtype="VORBIS")
    return f"data:audio/ogg;base64,{base64.b64encode(buffer.getvalue()).decode()}"


def _tokens(row: dict, tokenizers: dict) -> list[list]:
    """[text, stream name] per interleaved token; pads and EOS keep their names as text."""
    tokenizer = tokenizers.setdefault(row["tokenizer"], load_tokenizer(row["tokenizer"]))
    return [[tokenizer.decode([token]) if STREAM_NAMES[stream] in ("response", "reasoning") else "",
             STREAM_NAMES[stream]]
            for token, stream in zip(row["interleaved_ids"], row["interleaved_streams"], strict=True)]


def _record(text: str) -> dict:
    """A reject's record; a line that was never a record (malformed JSON) is shown as it came."""
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    return record if isinstance(record, dict) else {"problem": text}


AUDIO = ("question_audio", "response_audio")  # absent from a text-only build
AUDIO_ITEMS = 40  # kept rows whose clips are embedded (about 30 kB each)


def items(data_dir: str | Path, kept: int = 1000, rejected: int = 1000) -> list[dict]:
    folder = Path(data_dir)
    tokenizers: dict = {}
    out = []
    for index, row in enumerate(_sample(dataset_rows(folder, "data", COLUMNS), kept)):
        out.append({"id": row["id"], "source": row["source"], "status": "kept", "problem": row["problem"],
                    "question": row["question"], "reasoning": row["reasoning"],
                    "response": [s["text"] for s in row["response"]], "cycle": row["p"] + row["q"],
                    "p": row["p"], "tokens": _tokens(row, tokenizers),
                    **{name: _audio(row[name]) for name in AUDIO if name in row and index < AUDIO_ITEMS}})
    columns = ["id", "source", "stage", "reason", "detail", "record"]
    for reject in _sample(dataset_rows(folder, "rejects", columns), rejected):
        record = _record(reject["record"] or "")
        out.append({"id": reject["id"], "source": reject["source"],
                    "status": f"{reject['stage']}/{reject['reason']}",
                    "detail": reject["detail"], "problem": record.get("problem", ""),
                    "question": record.get("question", ""), "reasoning": record.get("reasoning") or [],
                    "response": [s["text"] for s in record.get("response") or []]})
    return out


PAGE = string.Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>$title</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:1100px;color:#222}
.item{border:1px solid #ccc;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}
.item[hidden]{display:none}
.status{font-weight:600}.rejected .status{color:#b00}
.cycles{font-family:ui-monospace,monospace;font-size:12px;line-height:1.9}
.cycle span{padding:1px 3px;margin-right:1px;border-radius:3px;white-space:pre}
.response{background:#cfe3ff}.reasoning{background:#e4e4e4}
.response_pad{background:repeating-linear-gradient(45deg,#cfe3ff,#cfe3ff 3px,#fff 3px,#fff 6px);color:#357}
.reasoning_pad{background:repeating-linear-gradient(45deg,#e4e4e4,#e4e4e4 3px,#fff 3px,#fff 6px);color:#666}
.eos{background:#f6b26b}
.legend span{padding:2px 6px;margin-right:6px;border-radius:3px}
figure img{max-width:100%}
</style></head><body>
<h1>$title</h1>
<p class="legend">Streams: <span class="response">response</span><span class="reasoning">reasoning</span>
<span class="response_pad">response pad</span><span class="reasoning_pad">reasoning pad</span>
<span class="eos">EOS</span> (one row per cycle)</p>
<p><label>Search <input id="search" type="search" placeholder="words, a number, an id"></label>
<label>Source <select id="source"><option value="">all</option></select></label>
<label>Status <select id="status"><option value="">all</option></select></label>
<button id="previous">previous</button> <button id="next">next</button>
<span id="shown"></span></p>
<div id="items"></div>
<h2>Plots</h2>
$plots
<script type="application/json" id="data">$data</script>
<script>
"use strict";
const ITEMS = JSON.parse(document.getElementById("data").textContent);
const PADS = {response_pad: "\\u00b7", reasoning_pad: "\\u00b7", eos: "EOS"};
const PAGE = 25;
let page = 0;
// a newline or tab inside a token would break its cycle's row: shown as a mark instead
const shown = text => text.replace(/\\r?\\n/g, "\\u21b5").replace(/\\t/g, "\\u2192");
function el(tag, attrs, text) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  if (text !== undefined) node.textContent = text;
  return node;
}
function section(parent, title, lines, ordered) {
  if (!lines || !lines.length) return;
  parent.append(el("h4", {}, title));
  const list = el(ordered ? "ol" : "ul");
  lines.forEach(line => list.append(el("li", {}, line)));
  parent.append(list);
}
function render(item) {
  const box = el("div", {class: "item " + (item.status === "kept" ? "kept" : "rejected"),
                         "data-source": item.source, "data-status": item.status});
  box.append(el("div", {}, item.id + " \\u2014 " + item.source + " \\u2014 "));
  box.lastChild.append(el("span", {class: "status"}, item.status));
  if (item.detail) box.append(el("p", {}, item.detail));
  box.append(el("h4", {}, "Original problem"), el("p", {}, item.problem));
  if (item.question) box.append(el("h4", {}, "Spoken question"), el("p", {}, item.question));
  for (const [key, label] of [["question_audio", "Question audio"], ["response_audio", "Response audio"]]) {
    if (item[key]) {
      box.append(el("h4", {}, label));
      box.append(el("audio", {controls: "", preload: "auto", src: item[key]}));
    }
  }
  section(box, "Reasoning (silent)", item.reasoning, true);
  section(box, "Response (spoken)", item.response, false);
  if (item.tokens) {
    box.append(el("h4", {}, "Interleaved stream, " + item.p + " response then " + (item.cycle - item.p) +
                            " reasoning slots per cycle"));
    const cycles = el("div", {class: "cycles"});
    for (let start = 0; start < item.tokens.length; start += item.cycle) {
      const row = el("div", {class: "cycle"});
      item.tokens.slice(start, start + item.cycle).forEach(([text, stream]) =>
        row.append(el("span", {class: stream, title: stream}, text ? shown(text) : PADS[stream])));
      cycles.append(row);
    }
    box.append(cycles);
  }
  return box;
}
const TEXT = ITEMS.map(i => [i.id, i.problem, i.question, i.detail || "", ...(i.reasoning || []),
                            ...(i.response || [])].join("\\n").toLowerCase());
function options(id, values) {
  const select = document.getElementById(id);
  [...new Set(values)].sort().forEach(v => select.append(el("option", {value: v}, v)));
  select.addEventListener("change", () => { page = 0; applyFilters(); });
}
function matching() {
  const source = document.getElementById("source").value, status = document.getElementById("status").value;
  const words = document.getElementById("search").value.toLowerCase().split(/\\s+/).filter(Boolean);
  return ITEMS.filter((item, index) => (!source || item.source === source) &&
    (!status || item.status === status) && words.every(word => TEXT[index].includes(word)));
}
function applyFilters() {
  const found = matching(), pages = Math.max(1, Math.ceil(found.length / PAGE));
  page = Math.min(page, pages - 1);
  const list = document.getElementById("items");
  list.replaceChildren(...found.slice(page * PAGE, (page + 1) * PAGE).map(render));
  document.getElementById("shown").textContent = found.length + " of " + ITEMS.length +
    " items match, page " + (page + 1) + " of " + pages;
  document.getElementById("previous").disabled = page === 0;
  document.getElementById("next").disabled = page >= pages - 1;
}
document.getElementById("search").addEventListener("input", () => { page = 0; applyFilters(); });
document.getElementById("previous").addEventListener("click", () => { page -= 1; applyFilters(); });
document.getElementById("next").addEventListener("click", () => { page += 1; applyFilters(); });
options("source", ITEMS.map(i => i.source));
options("status", ITEMS.map(i => i.status));
applyFilters();
</script></body></html>
""")


def write_browser(data_dir: str | Path, path: str | Path, plots: list[Path] = (), kept: int = 1000,
                  rejected: int = 1000) -> Path:
    """Write the browser page; ``plots`` (PNG files) are embedded below the samples."""
    figures = "".join(
        f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"></figure>' for p in plots)
    data = json.dumps(items(data_dir, kept, rejected)).replace("<", "\\u003c").replace(">", "\\u003e")
    title = f"Samples of {html.escape(Path(data_dir).resolve().name)}"
    page = PAGE.substitute(title=title, plots=figures, data=data)
    Path(path).write_text(page)
    return Path(path)
