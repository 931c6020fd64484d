#!/usr/bin/env bash
# Output that llama.cpp's and vLLM's tools already parse (issue 26, item 7): perplexity's
# "Final estimate: PPL = X +/- Y" line and its ETA; `weft bench -o csv` as llama-bench
# writes it; `weft bench serve` with vLLM bench's spellings (--max-concurrency,
# --num-prompts, --random-input-len) and an HTML report that opens with a one-line
# conclusion, marks the SLO thresholds and keeps point labels inside the plots.
# usage: tool_formats.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
m="$shared/models/stories260K/stories260K.gguf"
for _ in $(seq 1 60); do printf 'Once upon a time there was a little girl named Lily. She liked to play in the park.\n'; done > "$work/text.txt"

"$weft" perplexity "$m" -f "$work/text.txt" -c 64 --chunks 3 -t 1 > "$work/ppl.out" 2> "$work/ppl.err"
grep -qE '^Final estimate: PPL = [0-9]+\.[0-9]{4} \+/- [0-9]+\.[0-9]{5}$' "$work/ppl.out" || fail "no Final estimate: $(cat "$work/ppl.out")"
grep -qE 'seconds per chunk - ETA [0-9.]+ s' "$work/ppl.err" || fail "no ETA: $(cat "$work/ppl.err")"

"$weft" bench "$m" -p 16 -n 4 -r 2 -t 1 -o csv > "$work/bench.csv" 2> "$work/bench.err" || fail "bench -o csv: $(cat "$work/bench.err")"
python3 - "$work/bench.csv" <<'PY' || fail "bench csv: $(cat "$work/bench.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 2, rows
for k in ("build_commit", "model_filename", "n_prompt", "n_gen", "avg_ts", "stddev_ts", "n_threads"):
    assert k in rows[0], k
assert [(r["n_prompt"], r["n_gen"]) for r in rows] == [("16", "0"), ("0", "4")], rows
assert all(float(r["avg_ts"]) > 0 for r in rows)
assert open(sys.argv[1]).read().splitlines()[1].startswith('"'), "values are quoted, as llama-bench's"
PY

# shellcheck source=lib/weft_server.sh
. "$here/lib/weft_server.sh"
start_weft_server "$m" -t 1 --max-seqs 8
"$weft" bench serve --base-url "$base" --num-prompts 8 --max-concurrency 1,4 --random-input-len 16 --random-output-len 6 \
  --slo ttft=2s,tpot=500ms --json "$work/run.json" --html "$work/run.html" > "$work/run.txt" 2> "$work/run.err" \
  || fail "bench serve with vLLM's spellings: $(cat "$work/run.err")"
python3 - "$work/run.json" "$work/run.html" <<'PY' || fail "bench serve report"
import json, re, sys
j = json.load(open(sys.argv[1]))
assert [p["label"] for p in j["passes"]] == ["concurrency 1", "concurrency 4"], [p["label"] for p in j["passes"]]
for p in j["passes"]:
    assert p["summary"]["sent"] == 8 and p["summary"]["output_tokens"] == 48, p["summary"]
h = open(sys.argv[2]).read()
best = max(j["passes"], key=lambda p: p["summary"]["output_throughput"])
s = best["summary"]
want = "At %s: %.0f tok/s, TTFT p99 %.2f s, goodput %.0f %%" % (best["label"], s["output_throughput"],
                                                           s["ttft_ms"]["p99"] / 1e3, 100.0 * s["slo_met"] / s["completed"])
m = re.search(r'<p id="conclusion"><b>([^<]*)</b></p>', h)
assert m and m.group(1).startswith(want), (m and m.group(1), want)
assert h.index('id="conclusion"') < h.index("<h2>"), "the conclusion opens the report"
# SLO thresholds: a dashed line on the TTFT and TPOT charts, labelled.
assert h.count('class="threshold"') == 2 and "SLO 2000 ms" in h and "SLO 500 ms" in h
# Point labels inside each plot: an end-anchored label never starts left of the plot,
# a start-anchored one fits before the right edge (5.5 px a character).
for svg in re.findall(r"<svg .*?</svg>", h, re.S):
    width = float(re.search(r'width="(\d+)"', svg).group(1))
    for x, y, anchor, text in re.findall(r'<text x="([\d.]+)" y="([\d.]+)" fill="#555" font-size="9"( text-anchor="end")?>([^<]*)<', svg):
        x = float(x)
        right = x if anchor else x + 5.5 * len(text)
        assert right <= width - 28 + 0.5, (text, x, width)
        assert float(y) >= 34, (text, y)
PY
echo "tool_formats: perplexity final line and ETA, bench csv, bench serve spellings and report ok"
