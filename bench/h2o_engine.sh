#!/usr/bin/env bash
# KV budgets in the engine, on and off in the same run (BENCHMARKS.md, "Heavy hitters"):
# `weft bench --batch B` generating long (GEN tokens after PROMPT random tokens each) with
# dense KV, --kv-budget N --kv-policy h2o, and --kv-policy window, interleaved for ROUNDS
# rounds. Reports per policy: decode tokens/s (median, min..max over the rounds), the peak
# KV blocks held per sequence (and MiB at the model's bytes a token), the evicted tokens,
# the most positions one step attended, and the budget overruns (must be 0).
#   bench/h2o_engine.sh WEFT MODEL ROUNDS BATCH PROMPT GEN BUDGET [THREADS] [OUT_TSV]
set -euo pipefail
weft=${1:?weft binary} model=${2:?model} rounds=${3:-3} batch=${4:-4} prompt=${5:-64} gen=${6:-1024}
budget=${7:-256} threads=${8:-2} tsv=${9:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
policies=("dense" "h2o" "window")
echo "# $(date -u +%FT%TZ) $(uptime | sed 's/.*load/load/') | $model | batch $batch prompt $prompt gen $gen budget $budget threads $threads rounds $rounds"
for r in $(seq 1 "$rounds"); do
  for p in "${policies[@]}"; do
    args=()
    [ "$p" = dense ] || args=(--kv-budget "$budget" --kv-policy "$p")
    "$weft" bench "$model" --batch "$batch" --prompt-len "$prompt" --gen-len "$gen" -t "$threads" \
      --no-prefix-caching --json "$tmp/$p.$r.json" "${args[@]}" > "$tmp/$p.$r.txt" 2>&1 \
      || { cat "$tmp/$p.$r.txt"; exit 1; }
    echo "# round $r $p: $(grep -o 'decode tokens/s *[0-9.]*' "$tmp/$p.$r.txt") | load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
python3 - "$tmp" "$rounds" "$batch" "$gen" "$budget" "$model" "$tsv" <<'PY'
import json, statistics, sys, os
tmp, rounds, batch, gen, budget, model, tsv = sys.argv[1:]
rounds, batch = int(rounds), int(batch)
rows = []
print(f"| policy | decode tok/s median (min..max) | peak KV blocks / seq | KV MiB / seq | evicted tokens | most positions attended | overruns |")
print("|---|---:|---:|---:|---:|---:|---:|")
for p in ("dense", "h2o", "window"):
    js = [json.load(open(f"{tmp}/{p}.{r}.json")) for r in range(1, rounds + 1)]
    tps = [j["decode_tokens_per_s"] for j in js]
    j = js[0]
    blocks = j["kv_peak_blocks"] / batch
    mib = j["kv_peak_blocks"] * 16 * j["kv_bytes_per_token"] / batch / 2**20
    gen_ok = all(x["generated_tokens"] == batch * int(gen) for x in js)
    assert gen_ok, [x["generated_tokens"] for x in js]
    name = "dense" if p == "dense" else j["kv_policy"]
    attended = j["kv_budget_peak_tokens"] if p != "dense" else "-"
    print(f"| {name} | {statistics.median(tps):.1f} ({min(tps):.1f}..{max(tps):.1f}) | {blocks:.1f} | {mib:.2f} | "
          f"{j['kv_evicted_tokens']} | {attended} | {j['kv_budget_overruns']} |")
    rows.append([os.path.basename(model), p, budget, batch, gen, *[f"{t:.2f}" for t in tps], f"{blocks:.2f}", f"{mib:.3f}",
                 j["kv_evicted_tokens"]])
if tsv:
    with open(tsv, "a") as f:
        for r in rows:
            f.write("\t".join(map(str, r)) + "\n")
PY
