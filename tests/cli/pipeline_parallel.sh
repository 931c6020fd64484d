#!/usr/bin/env bash
# Pipeline parallelism (--pp, model/tp_decoder.h), alone and with --tp, under
# `mpirun -np 2` and `-np 4` on this machine: logits within the golden bar
# (../shared/golden/README.md) of the reference and the same bits as the single process
# (a stage runs the same kernels on the same rows: nothing is summed in another order) for
# stories260K, TinyLLama-v0 and synthetic llama/qwen2 files; --tp 2 --pp 2 near the single
# process (the tensor-parallel all-reduce's order); micro-batching changes no bit; greedy
# text identical; batch invariance per layout through the server; a killed rank ends the
# job in seconds; wrong layouts are refused with messages naming the fix.
# usage: pipeline_parallel.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
tools="$here/../tools"
cache="$work/../../synth"
mkdir -p "$work" "$cache"
fail() { echo "FAIL: $*"; exit 1; }
source "$here/lib/mpi.sh"  # mpi, ids_of

# check NAME MODEL REF BAR NEAR LAYOUT...: weft logits under each LAYOUT ("pp2", "pp4",
# "tp2pp2") within the bar of REF, bit-identical on a second run; a pure pipeline
# bit-identical to the single process, a layout with --tp within NEAR of it.
check() {
  local name=$1 model=$2 ref=$3 bar=$4 near=$5; shift 5
  ids_of "$ref" "$work/$name.ids"
  "$weft" logits "$model" --tokens "$work/$name.ids" --positions $(cat "$work/$name.ids.keep") \
    --out "$work/$name.one.logits" -t 1 2> "$work/log" || { cat "$work/log"; fail "$name: single process"; }
  python3 "$tools/compare_logits.py" "$ref" "$work/$name.one.logits" $bar --label "$name one" || fail "$name one"
  for layout in "$@"; do
    local tp=1 pp=${layout##*pp}
    [[ $layout == tp* ]] && tp=${layout:2:1}
    for k in 1 2; do
      mpi $((tp * pp)) "$weft" logits "$model" --tokens "$work/$name.ids" --positions $(cat "$work/$name.ids.keep") \
        --out "$work/$name.$layout.$k.logits" -t 1 --tp "$tp" --pp "$pp" > "$work/log" 2>&1 ||
        { cat "$work/log"; fail "$name: $layout"; }
    done
    python3 "$tools/compare_logits.py" "$ref" "$work/$name.$layout.1.logits" $bar --label "$name $layout" ||
      fail "$name $layout"
    cmp -s "$work/$name.$layout.1.logits" "$work/$name.$layout.2.logits" || fail "$name: $layout differs between runs"
    if [ "$tp" = 1 ]; then
      cmp -s "$work/$name.one.logits" "$work/$name.$layout.1.logits" ||
        fail "$name: $layout is not the single process's bits"
    else
      python3 "$tools/compare_logits.py" "$work/$name.one.logits" "$work/$name.$layout.1.logits" $near \
        --label "$name $layout vs one" || fail "$name: $layout far from the single process"
    fi
  done
}

golden="$shared/golden/real"
s260="$shared/models/stories260K/stories260K.gguf"
tl="$shared/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf"
# stories260K: 5 layers (pp2: 3 + 2; pp4: 2 + 1 + 1 + 1), 8/4 heads. The bar as in
# tensor_parallel.sh (F32 against llama.cpp's F16-KV run).
check stories260K "$s260" "$golden/stories260K.p1.llamacpp.logits" "--rms 4e-3 --max-abs 4e-2" \
  "--rms 1e-3 --max-abs 1e-2" pp2 pp4 tp2pp2
check tinyllama "$tl" "$golden/TinyLLama-v0.Q4_0.p1.ref.logits" \
  "--bar-from $golden/TinyLLama-v0.Q4_0.p1.llamacpp.logits" "--rms 2.3e-2 --max-abs 1.45e-1" pp2 pp4 tp2pp2
for st in tiny:Q4_0 tinyq:Q8_0 tiny:F16; do
  preset=${st%%:*} type=${st##*:} lower=$(tr 'A-Z' 'a-z' <<< "$type")
  f="$cache/synth-$preset-$lower.gguf"
  [ -f "$f" ] || python3 "$shared/tools/synth_gguf.py" --preset "$preset" --type "$type" -o "$f" > /dev/null
  want=$(python3 -c "import json; print(json.load(open('$shared/golden/synth/index.json'))['synth-$preset-$lower']['model_sha256'])")
  [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$want" ] || fail "$f: not the golden's file (sha256)"
  check "synth-$preset-$lower" "$f" "$shared/golden/synth/synth-$preset-$lower.ref.logits" \
    "--bar-from $shared/golden/synth/synth-$preset-$lower.llamacpp.logits" "--rms 1e-2 --max-abs 5e-2" pp2 tp2pp2
done

# Real width (2048, 32/8 heads, ffn 8192, a 128k vocabulary), 2 layers: one per stage,
# the logits (128k wide) sent back to rank 0; the same bits as one process.
python3 -c "import random; r = random.Random(5); print(' '.join(str(r.randrange(3, 30000)) for _ in range(40)))" > "$work/rw.ids"
f="$cache/synth-l1b2-q4_0.gguf"
[ -f "$f" ] || python3 "$tools/synth_real_width.py" --preset l1b2 --type Q4_0 -o "$f" > /dev/null
"$weft" logits "$f" --tokens "$work/rw.ids" --positions 0 1 17 39 --out "$work/l1b2.one.logits" -t 1 2> "$work/log" ||
  { cat "$work/log"; fail "l1b2: single process"; }
mpi 2 "$weft" logits "$f" --tokens "$work/rw.ids" --positions 0 1 17 39 --out "$work/l1b2.pp2.logits" -t 1 --pp 2 \
  > "$work/log" 2>&1 || { cat "$work/log"; fail "l1b2: --pp 2"; }
cmp -s "$work/l1b2.one.logits" "$work/l1b2.pp2.logits" || fail "l1b2: --pp 2 is not the single process's bits"

# Greedy generation: the same text as one process under every layout.
want=$("$weft" run "$s260" -p "Once upon a time" -n 64 --temp 0 -q -t 1)
for layout in "2 1 2" "4 1 4" "4 2 2"; do
  set -- $layout
  got=$(mpi "$1" "$weft" run "$s260" -p "Once upon a time" -n 64 --temp 0 -q -t 1 --tp "$2" --pp "$3" 2> "$work/log") ||
    { cat "$work/log"; fail "run --tp $2 --pp $3"; }
  [ "$got" = "$want" ] || { echo "one: $want"; echo "tp$2 pp$3: $got"; fail "greedy text differs at --tp $2 --pp $3"; }
done

# weft bench --batch 16 under --pp 2 (micro-batched, and not) reports its communication per
# step; the tokens generated are the same either way (greedy, batch invariance).
for mb in 0 1; do
  mpi 2 "$weft" bench "$s260" --batch 16 --prompt-len 24 --gen-len 16 -t 1 --pp 2 --pp-micro-batches $mb \
    --json "$work/b$mb.json" > "$work/bench$mb.txt" 2>&1 || { cat "$work/bench$mb.txt"; fail "bench --pp 2 ($mb)"; }
  grep -q "pipeline parallel      --tp 1 --pp 2: " "$work/bench$mb.txt" || { cat "$work/bench$mb.txt"; fail "bench: no line"; }
  python3 -c "import json; j = json.load(open('$work/b$mb.json')); assert j['pp'] == 2 and j['tp'] == 1 and j['comm_ms_per_step'] > 0, j"
done

# Wrong layouts: more stages than layers, a process count that is not tp x pp, --pp
# without mpirun, micro-batches without --pp.
if mpi 4 "$weft" logits "$cache/synth-tiny-q4_0.gguf" --tokens "$work/stories260K.ids" --out "$work/x.logits" -t 1 \
  --pp 4 > "$work/log" 2>&1; then fail "--pp 4 over 2 layers accepted"; fi
grep -q "more pipeline stages than the model's 2 layers; give --pp 2 or fewer" "$work/log" || { cat "$work/log"; fail "--pp > layers message"; }
if mpi 2 "$weft" logits "$s260" --tokens "$work/stories260K.ids" --out "$work/x.logits" -t 1 --tp 2 --pp 2 \
  > "$work/log" 2>&1; then fail "--tp 2 --pp 2 on 2 processes accepted"; fi
grep -q "needs exactly 4 processes (tp x pp), started as \`mpirun -np 4" "$work/log" || { cat "$work/log"; fail "np message"; }
if "$weft" logits "$s260" --tokens "$work/stories260K.ids" --out "$work/x.logits" --pp 2 2> "$work/log"; then
  fail "--pp 2 without mpirun accepted"; fi
grep -q "mpirun -np 2" "$work/log" || { cat "$work/log"; fail "--pp without mpirun message"; }
if "$weft" logits "$s260" --tokens "$work/stories260K.ids" --out "$work/x.logits" --pp-micro-batches 2 2> "$work/log"; then
  fail "--pp-micro-batches without --pp accepted"; fi
grep -q "give it with --pp" "$work/log" || { cat "$work/log"; fail "--pp-micro-batches message"; }

# The server under --pp 2: batch invariance per layout, /metrics, and a killed rank.
source "$here/lib/weft_server.sh"
source "$here/lib/mpi_server_checks.sh"
weft_pp() { exec mpirun --oversubscribe --allow-run-as-root -np 2 "$weft_orig" "$@"; }
weft_orig=$weft
weft=weft_pp
start_weft_server "$f" --pp 2 -t 1
weft=$weft_orig
ranks=$(pgrep -P "$server_pid" | tr '\n' ' ')
trap 'kill -KILL $server_pid $ranks 2>/dev/null || true' EXIT
# A request's logprobs are the same bits alone and among 7 others (their steps are cut
# into micro-batches, so the request's rows travel with different neighbours).
check_logprobs_batch_invariant "serve --pp 2" 16 20
metrics=$(curl -s "$base/metrics")
grep -q "^weft_pp_size 2" <<< "$metrics" || fail "/metrics: no weft_pp_size"
grep -qE "^weft_tp_communication_seconds_total [0-9.e-]+" <<< "$metrics" || fail "/metrics: no communication time"
check_killed_rank
echo "ok"
