#!/usr/bin/env bash
# weft bench MODEL (no --batch): llama-bench's pp/tg tests. The table rows, the machine
# lines, and the JSON (llama-bench's fields, consistent with each other, plus weft's).
# Speeds are never asserted, only that they are positive.
# usage: bench_pp_tg.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
m="$shared/models/stories260K/stories260K.gguf"

"$weft" bench "$m" -p 64 -n 16 -r 2 -t 1,2 --probe-mem 256M --json "$work/out.json" > "$work/md.txt" 2> "$work/err.txt" \
  || { cat "$work/err.txt"; fail "bench run"; }
for t in 1 2; do
  grep -qE "^memory read [0-9.]+ GB/s, int8 [0-9.]+ TOPS, fp32 [0-9.]+ TFLOPS \\($t threads?, " "$work/md.txt" \
    || { cat "$work/md.txt"; fail "machine line for $t threads"; }
  for test in pp64 tg16; do
    grep -qE "^\\| llama [^|]* F32 +\\| .* \\| CPU +\\| [a-z0-9]+ +\\| +$t \\| +$test \\| +[0-9.]+ ± [0-9.]+ \\| +[0-9.]+% (fp32|mem) \\|$" "$work/md.txt" \
      || { cat "$work/md.txt"; fail "table row $test, $t threads"; }
  done
done
grep -qE "^\\| model +\\| .* t/s \\| +of peak \\|$" "$work/md.txt" || { cat "$work/md.txt"; fail "table header"; }
[ "$(grep -c '^| llama' "$work/md.txt")" -eq 4 ] || { cat "$work/md.txt"; fail "4 table rows"; }

python3 - "$work/out.json" 2 <<'PY'
import json, math, statistics, sys
rows = json.load(open(sys.argv[1]))
reps = int(sys.argv[2])
assert isinstance(rows, list) and len(rows) == 4, rows
fields = {"build_commit": str, "build_number": int, "cpu_info": str, "gpu_info": str, "backends": str,
          "model_filename": str, "model_type": str, "model_size": int, "model_n_params": int, "n_batch": int,
          "n_ubatch": int, "n_threads": int, "type_k": str, "type_v": str, "n_gpu_layers": int, "flash_attn": bool,
          "test_time": str, "n_prompt": int, "n_gen": int, "avg_ns": int, "stddev_ns": int, "avg_ts": float,
          "stddev_ts": float, "samples_ns": list, "samples_ts": list,
          "isa": str, "mem_bw_gbs": float, "int8_tops": float, "fp32_tflops": float, "weight_bytes_per_token": int,
          "median_ts": float}
seen = set()
for r in rows:
    for f, t in fields.items():
        assert f in r, f"missing {f}"
        assert isinstance(r[f], t) and not (t is int and isinstance(r[f], bool)), (f, r[f])
    assert r["backends"] == "CPU" and r["gpu_info"] == "" and r["build_number"] == 0 and r["n_gpu_layers"] == 0
    assert r["model_filename"].endswith("stories260K.gguf") and r["model_size"] > 0 and r["model_n_params"] > 0
    assert (r["n_prompt"], r["n_gen"]) in {(64, 0), (0, 16)}, r
    seen.add((r["n_threads"], r["n_prompt"], r["n_gen"]))
    ns, ts = r["samples_ns"], r["samples_ts"]
    assert len(ns) == reps and len(ts) == reps, r
    n = r["n_prompt"] + r["n_gen"]
    for a, b in zip(ns, ts):
        assert a > 0 and math.isclose(b, n * 1e9 / a, rel_tol=1e-9), (a, b)
    assert math.isclose(r["avg_ts"], statistics.mean(ts), rel_tol=1e-9), r
    assert math.isclose(r["stddev_ts"], statistics.stdev(ts), rel_tol=1e-9, abs_tol=1e-9), r
    assert math.isclose(r["median_ts"], statistics.median(ts), rel_tol=1e-9), r
    assert abs(r["avg_ns"] - statistics.mean(ns)) <= 1 and abs(r["stddev_ns"] - statistics.stdev(ns)) <= 1, r
    for f in ("mem_bw_gbs", "int8_tops", "fp32_tflops"):
        assert math.isfinite(r[f]) and r[f] > 0, (f, r[f])
    assert r["weight_bytes_per_token"] > 0
    if r["n_prompt"]:
        assert r["compute_fraction"] > 0 and r["useful_ops_per_token"] > 0 and r["compute_peak"] == "fp32", r
        assert "bandwidth_fraction" not in r
    else:
        assert r["bandwidth_fraction"] > 0 and "compute_fraction" not in r, r
        assert r["kv_bytes_per_token"] > 0, r
        ratio = (r["weight_bytes_per_token"] + r["kv_bytes_per_token"]) * r["avg_ts"] / (r["mem_bw_gbs"] * 1e9)
        assert math.isclose(r["bandwidth_fraction"], ratio, rel_tol=1e-9), r
assert seen == {(1, 64, 0), (1, 0, 16), (2, 64, 0), (2, 0, 16)}, seen
PY

# -o json and -o jsonl on stdout: parseable, the machine line goes to stderr.
"$weft" bench "$m" -p 8 -n 4 -r 1 -t 1 --probe-mem 16M -o json > "$work/o.json" 2> "$work/o.err"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert [(r['n_prompt'], r['n_gen']) for r in j] == [(8, 0), (0, 4)], j" "$work/o.json"
grep -q "^memory read" "$work/o.err" || fail "machine line on stderr with -o json"
"$weft" bench "$m" -p 8,0 -n 0 -r 3 -t 1 --probe-mem 16M -o jsonl > "$work/o.jsonl" 2>/dev/null
python3 -c "
import json,sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 1 and rows[0]['n_prompt'] == 8 and len(rows[0]['samples_ts']) == 3, rows" "$work/o.jsonl"

# -d: each test after a context already in the cache; named "pp16 @ d100", n_depth in the
# JSON; useful ops and K/V bytes read grow with the depth as the formulas say (stories260K:
# 5 layers, 8 heads of 8 dims, 4 KV heads; F16 K/V).
"$weft" bench "$m" -p 16 -n 4 -d 0,100 -r 1 -t 1 --probe-mem 16M --json "$work/d.json" > "$work/d.txt" 2>/dev/null \
  || { cat "$work/d.txt"; fail "bench -d run"; }
for test in "pp16" "tg4" "pp16 @ d100" "tg4 @ d100"; do
  grep -qE "^\\| llama .* \\| +$test \\| +[0-9.]+ ± [0-9.]+ \\|" "$work/d.txt" || { cat "$work/d.txt"; fail "row $test"; }
done
python3 - "$work/d.json" <<'PY'
import json, math, sys
rows = {(r["n_depth"], r["n_prompt"], r["n_gen"]): r for r in json.load(open(sys.argv[1]))}
assert set(rows) == {(0, 16, 0), (0, 0, 4), (100, 16, 0), (100, 0, 4)}, rows.keys()
layers, heads, head_dim, kv_heads = 5, 8, 8, 4
# pp: each of the 16 queries sees 100 more keys: 4 ops x layers x heads x head_dim per pair.
extra_ops = rows[(100, 16, 0)]["useful_ops_per_token"] - rows[(0, 16, 0)]["useful_ops_per_token"]
assert math.isclose(extra_ops, 4 * layers * heads * head_dim * 100, rel_tol=1e-9), extra_ops
# tg: token i reads depth + i + 1 positions of K and V (2 bytes each).
per_pos = 2 * layers * kv_heads * head_dim * 2
for d in (0, 100):
    assert math.isclose(rows[(d, 0, 4)]["kv_bytes_per_token"], per_pos * (d + 2.5), rel_tol=1e-9), rows[(d, 0, 4)]
PY
# --verify-tokens: one pass of K tokens with K logit rows ("verifyK"), each beside verify1;
# the output matrix counts once per row (stories260K: 512 x 64).
"$weft" bench "$m" -p 5 -n 0 --verify-tokens 1,5 -d 20 -r 2 -t 1 --probe-mem 16M --json "$work/v.json" > "$work/v.txt" \
  2>/dev/null || { cat "$work/v.txt"; fail "bench --verify-tokens run"; }
for test in "verify1 @ d20" "verify5 @ d20"; do
  grep -qE "^\\| llama .* \\| +$test \\| +[0-9.]+ ± [0-9.]+ \\|" "$work/v.txt" || { cat "$work/v.txt"; fail "row $test"; }
done
grep -qE "^verify5 @ d20, 1 thread: [0-9.]+ ms a pass, [0-9.]+x verify1's [0-9.]+ ms \\(medians\\); run by run [0-9.]+x \\([0-9.]+\\.\\.[0-9.]+\\)$" \
  "$work/v.txt" || { cat "$work/v.txt"; fail "verify ratio line"; }
python3 - "$work/v.json" "$work/v.txt" <<'PY'
import json, math, re, statistics, sys
rows = json.load(open(sys.argv[1]))
pp = [r for r in rows if "weft_verify_tokens" not in r]
v = {r["weft_verify_tokens"]: r for r in rows if "weft_verify_tokens" in r}
assert len(pp) == 1 and set(v) == {1, 5} and v[5]["n_prompt"] == 5 and v[5]["n_gen"] == 0, rows
extra = v[5]["useful_ops_per_token"] - pp[0]["useful_ops_per_token"]
assert math.isclose(extra, 2 * 512 * 64 * 4 / 5, rel_tol=1e-9), extra
# The run-by-run figure: run i of verify5 over run i of verify1 (the two ran interleaved).
ratios = [b / a for a, b in zip(v[1]["samples_ns"], v[5]["samples_ns"])]
line = [l for l in open(sys.argv[2]) if l.startswith("verify5 @ d20")][0]
m = re.search(r"run by run ([0-9.]+)x \(([0-9.]+)\.\.([0-9.]+)\)$", line.strip())
assert m, line
assert abs(float(m.group(1)) - statistics.median(ratios)) < 0.006, (line, ratios)
assert abs(float(m.group(2)) - min(ratios)) < 0.006 and abs(float(m.group(3)) - max(ratios)) < 0.006, (line, ratios)
PY
one_line() {  # description, command...
  local what=$1; shift
  if "$@" > /dev/null 2> "$work/err.txt"; then fail "$what succeeded"; fi
  [ "$(wc -l < "$work/err.txt")" -eq 1 ] || { cat "$work/err.txt"; fail "$what: not one line"; }
}
one_line_v() { if "$@" > /dev/null 2> "$work/err.txt"; then fail "$* succeeded"; fi; [ "$(wc -l < "$work/err.txt")" -eq 1 ] || fail "not one line"; }
one_line_v "$weft" bench "$m" --verify-tokens 8 --ubatch-size 4
grep -q "more than --ubatch-size" "$work/err.txt" || { cat "$work/err.txt"; fail "verify > ubatch message"; }

# --kv-ab: every test on a second cache of another KV type, the two alternating run by run
# on the same tokens; a row per type (type_kv column) and the paired ratio line, whose
# figures follow from the JSON samples (run i of one type against run i of the other).
"$weft" bench "$m" -p 0 -n 6 -d 40 -r 4 -t 1 --probe-mem 16M --kv-ab q8 --json "$work/ab.json" > "$work/ab.txt" \
  2>/dev/null || { cat "$work/ab.txt"; fail "bench --kv-ab run"; }
for kv in f16 q8; do
  grep -qE "^\\| llama .* \\| $kv +\\| +tg6 @ d40 \\| +[0-9.]+ ± [0-9.]+ \\|" "$work/ab.txt" || { cat "$work/ab.txt"; fail "--kv-ab row $kv"; }
done
grep -qE "^\\| model .* \\| type_kv \\| .*test \\|" "$work/ab.txt" || { cat "$work/ab.txt"; fail "--kv-ab type_kv column"; }
python3 - "$work/ab.json" "$work/ab.txt" <<'PY'
import json, re, statistics, sys
rows = {r["type_k"]: r for r in json.load(open(sys.argv[1]))}
assert set(rows) == {"f16", "q8"} and all(r["type_v"] == r["type_k"] for r in rows.values()), rows.keys()
a, b = rows["f16"], rows["q8"]
assert len(a["samples_ts"]) == 4 and len(b["samples_ts"]) == 4
assert 0 < b["kv_bytes_per_token"] < a["kv_bytes_per_token"], (a["kv_bytes_per_token"], b["kv_bytes_per_token"])
ratios = [y / x for x, y in zip(a["samples_ts"], b["samples_ts"])]
line = [l for l in open(sys.argv[2]) if l.startswith("tg6 @ d40, 1 thread: q8 over f16 ")]
assert len(line) == 1, open(sys.argv[2]).read()
m = re.match(r"tg6 @ d40, 1 thread: q8 over f16 ([0-9.]+)x \(median of 4 paired runs, ([0-9.]+)\.\.([0-9.]+)\), "
             r"q8 faster in ([0-4]) of 4$", line[0].strip())
assert m, line
assert abs(float(m.group(1)) - statistics.median(ratios)) < 0.006, (m.group(1), ratios)
assert abs(float(m.group(2)) - min(ratios)) < 0.006 and abs(float(m.group(3)) - max(ratios)) < 0.006, (line, ratios)
assert int(m.group(4)) == sum(r > 1 for r in ratios), (line, ratios)
PY
one_line "--kv-ab unknown" "$weft" bench "$m" -p 8 -n 0 --kv-ab q7
grep -q -- "--kv-ab q7: unknown KV cache type" "$work/err.txt" || { cat "$work/err.txt"; fail "--kv-ab unknown message"; }
one_line "--kv-ab same as --kv-type" "$weft" bench "$m" -p 8 -n 0 --kv-type q8 --kv-ab q8
grep -q -- "--kv-ab q8 is the --kv-type already measured" "$work/err.txt" || { cat "$work/err.txt"; fail "--kv-ab same message"; }
one_line "--kv-ab with --batch" "$weft" bench "$m" --batch 2 --kv-ab q8

if "$weft" bench "$m" -p 16 -n 0 -d 2040 > /dev/null 2> "$work/err.txt"; then fail "-d past the context accepted"; fi
grep -q "after 2040 (-d)" "$work/err.txt" || { cat "$work/err.txt"; fail "-d context message"; }

# Bad input: one line (one_line is defined above).
one_line "-p 0 -n 0" "$weft" bench "$m" -p 0 -n 0
one_line "pp/tg flag with --batch" "$weft" bench "$m" --batch 2 -p 8
one_line "-o xml" "$weft" bench "$m" -o xml
one_line "past the context" "$weft" bench "$m" -p 100000 -n 0
grep -q "context" "$work/err.txt" || fail "context message"
"$weft" bench --help > "$work/help.txt"
grep -q "^Examples:" "$work/help.txt" || fail "--help examples"
echo "bench_pp_tg: table, machine lines and llama-bench JSON check out"
