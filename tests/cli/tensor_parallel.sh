#!/usr/bin/env bash
# Tensor parallelism (--tp, model/tp_decoder.h) under `mpirun -np 2` and `-np 4` on this
# machine: logits within the golden bar (../shared/golden/README.md) of the reference
# for stories260K, TinyLLama-v0 and synthetic llama/qwen2 files; greedy text identical
# to the single-process run; the same bits on every run and whatever the batch
# (batch invariance per layout); a killed rank ends the job with an error in seconds;
# startup refuses mismatched ranks and bad layouts.
# usage: tensor_parallel.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
tools="$here/../tools"
cache="$work/../../synth"
mkdir -p "$work" "$cache"
fail() { echo "FAIL: $*"; exit 1; }
source "$here/lib/mpi.sh"  # mpi, ids_of

# check NAME MODEL REF BAR NEAR NP...: weft logits at --tp NP within the bar of REF,
# bit-identical on a second run, and within NEAR of the single process. (Only the order
# of the partial sums differs; with quantised weights the activations are rounded to int8
# per block before each matmul, so an order change can flip a rounding and the distance
# grows to the size of quantisation noise: NEAR is then about llama.cpp's own distance.)
check() {
  local name=$1 model=$2 ref=$3 bar=$4 near=$5; shift 5
  ids_of "$ref" "$work/$name.ids"
  "$weft" logits "$model" --tokens "$work/$name.ids" --positions $(cat "$work/$name.ids.keep") \
    --out "$work/$name.tp1.logits" -t 2 2> "$work/log" || { cat "$work/log"; fail "$name: single process"; }
  python3 "$tools/compare_logits.py" "$ref" "$work/$name.tp1.logits" $bar --label "$name tp1" || fail "$name tp1"
  for np in "$@"; do
    for k in 1 2; do
      mpi "$np" "$weft" logits "$model" --tokens "$work/$name.ids" --positions $(cat "$work/$name.ids.keep") \
        --out "$work/$name.tp$np.$k.logits" -t 1 --tp "$np" > "$work/log" 2>&1 || { cat "$work/log"; fail "$name: --tp $np"; }
    done
    python3 "$tools/compare_logits.py" "$ref" "$work/$name.tp$np.1.logits" $bar --label "$name tp$np" || fail "$name tp$np"
    cmp -s "$work/$name.tp$np.1.logits" "$work/$name.tp$np.2.logits" || fail "$name: --tp $np differs between runs"
    # Against the single process: only summation order differs.
    python3 "$tools/compare_logits.py" "$work/$name.tp1.logits" "$work/$name.tp$np.1.logits" $near \
      --label "$name tp$np vs tp1" || fail "$name: --tp $np far from the single process"
  done
}

golden="$shared/golden/real"
s260="$shared/models/stories260K/stories260K.gguf"
# stories260K is F32: its golden is llama.cpp's F16-KV run, from which an F32 engine sits
# ~3e-3 rms / 3e-2 max (the single process here: 2.7e-3 / 3.03e-2); both runs are held to
# that, and --tp to the single process much more tightly below.
check stories260K "$s260" "$golden/stories260K.p1.llamacpp.logits" "--rms 4e-3 --max-abs 4e-2" \
  "--rms 1e-3 --max-abs 1e-2" 2 4
# TinyLLama-v0 Q4_0: --tp against the single process within the golden bar (1.5x
# llama.cpp's distance from the reference + 1e-4 / 1e-3, what --bar-from computes: rms
# 2.3e-2, max 1.45e-1), as the issue words it. Measured: 1.34e-2 / 0.101 on AVX2 (an
# order change flips int8 roundings of the activations: quantisation noise).
check tinyllama "$shared/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf" "$golden/TinyLLama-v0.Q4_0.p1.ref.logits" \
  "--bar-from $golden/TinyLLama-v0.Q4_0.p1.llamacpp.logits" "--rms 2.3e-2 --max-abs 1.45e-1" 2
for st in tiny:Q4_0 tiny:Q8_0 tinyq:Q8_0 tiny:F16; do
  preset=${st%%:*} type=${st##*:} lower=$(tr 'A-Z' 'a-z' <<< "$type")
  f="$cache/synth-$preset-$lower.gguf"
  [ -f "$f" ] || python3 "$shared/tools/synth_gguf.py" --preset "$preset" --type "$type" -o "$f" > /dev/null
  want=$(python3 -c "import json; print(json.load(open('$shared/golden/synth/index.json'))['synth-$preset-$lower']['model_sha256'])")
  [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$want" ] || fail "$f: not the golden's file (sha256)"
  check "synth-$preset-$lower" "$f" "$shared/golden/synth/synth-$preset-$lower.ref.logits" \
    "--bar-from $shared/golden/synth/synth-$preset-$lower.llamacpp.logits" "--rms 1e-2 --max-abs 5e-2" 2
done

# Real widths (2048 with 32/8 heads and ffn 8192, a 128k vocabulary; 896 with 14/2 heads,
# q/k/v biases and a 151k tied vocabulary), 2 layers: no golden, so against the single
# process (Q4_0: within quantisation noise, as in check above; seen: 1.1e-4 / 7.0e-4 rms).
python3 -c "import random; r = random.Random(5); print(' '.join(str(r.randrange(3, 30000)) for _ in range(40)))" > "$work/rw.ids"
for st in l1b2:Q4_0 q05b2:Q4_0; do
  preset=${st%%:*} type=${st##*:} lower=$(tr 'A-Z' 'a-z' <<< "$type")
  f="$cache/synth-$preset-$lower.gguf"
  [ -f "$f" ] || python3 "$tools/synth_real_width.py" --preset "$preset" --type "$type" -o "$f" > /dev/null
  "$weft" logits "$f" --tokens "$work/rw.ids" --positions 0 1 17 39 --out "$work/$preset.tp1.logits" -t 2 2> "$work/log" ||
    { cat "$work/log"; fail "$preset: single process"; }
  mpi 2 "$weft" logits "$f" --tokens "$work/rw.ids" --positions 0 1 17 39 --out "$work/$preset.tp2.logits" -t 1 --tp 2 \
    > "$work/log" 2>&1 || { cat "$work/log"; fail "$preset: --tp 2"; }
  python3 "$tools/compare_logits.py" "$work/$preset.tp1.logits" "$work/$preset.tp2.logits" --rms 5e-3 --max-abs 5e-2 \
    --label "$preset $type tp2 vs tp1" || fail "$preset: --tp 2 far from the single process"
done

# Greedy generation: the same text as one process, and the golden continuation.
want=$("$weft" run "$s260" -p "Once upon a time" -n 64 --temp 0 -q -t 2)
for np in 2 4; do
  got=$(mpi "$np" "$weft" run "$s260" -p "Once upon a time" -n 64 --temp 0 -q -t 1 --tp "$np" 2> "$work/log") ||
    { cat "$work/log"; fail "run --tp $np"; }
  [ "$got" = "$want" ] || { echo "tp1: $want"; echo "tp$np: $got"; fail "greedy text differs at --tp $np"; }
done

# weft bench --batch 16 under --tp 2 reports its communication per step.
mpi 2 "$weft" bench "$s260" --batch 16 --prompt-len 24 --gen-len 16 -t 1 --tp 2 --json "$work/b1.json" > "$work/bench.txt" 2>&1 ||
  { cat "$work/bench.txt"; fail "bench --tp 2"; }
grep -q "tensor parallel        --tp 2: " "$work/bench.txt" || { cat "$work/bench.txt"; fail "bench: no communication line"; }
python3 -c "import json; j = json.load(open('$work/b1.json')); assert j['tp'] == 2 and j['comm_ms_per_step'] > 0, j"

# Startup checks: a layout that does not divide the heads, --tp without mpirun, mpirun without --tp.
if mpi 4 "$weft" logits "$shared/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf" --tokens "$work/tinyllama.ids" \
  --out "$work/x.logits" -t 1 --tp 4 > "$work/log" 2>&1; then fail "--tp 4 cutting Q4_0 blocks accepted"; fi
grep -q "inside a block" "$work/log" || { cat "$work/log"; fail "--tp 4 block message"; }
if "$weft" logits "$s260" --tokens "$work/stories260K.ids" --out "$work/x.logits" --tp 2 2> "$work/log"; then
  fail "--tp 2 without mpirun accepted"; fi
grep -q "mpirun -np 2" "$work/log" || { cat "$work/log"; fail "--tp without mpirun message"; }
if mpi 2 "$weft" logits "$s260" --tokens "$work/stories260K.ids" --out "$work/x.logits" > "$work/log" 2>&1; then
  fail "mpirun -np 2 without --tp accepted"; fi
grep -q "needs exactly" "$work/log" || { cat "$work/log"; fail "no --tp message"; }
# Ranks that loaded different files: rank 1 gets another model through an MPMD launch.
if mpirun --oversubscribe --allow-run-as-root -np 1 "$weft" logits "$s260" --tokens "$work/stories260K.ids" \
  --out "$work/x.logits" --tp 2 : -np 1 "$weft" logits "$cache/synth-tiny-q8_0.gguf" --tokens "$work/stories260K.ids" \
  --out "$work/x.logits" --tp 2 > "$work/log" 2>&1; then fail "ranks with different files accepted"; fi
grep -q "same model file" "$work/log" || { cat "$work/log"; fail "mismatched ranks message"; }

# A rank that dies: the job ends with an error within seconds, not a hang.
source "$here/lib/weft_server.sh"
source "$here/lib/mpi_server_checks.sh"
weft_tp() { exec mpirun --oversubscribe --allow-run-as-root -np 2 "$weft_orig" "$@"; }
weft_orig=$weft
weft=weft_tp  # start_weft_server runs "$weft" serve ... in the background: mpirun's pid is $server_pid
# l1b2 (width 2048, 128k vocabulary): slow enough that a long request is still running
# when a rank is killed.
start_weft_server "$cache/synth-l1b2-q4_0.gguf" --tp 2 -t 1
weft=$weft_orig
ranks=$(pgrep -P "$server_pid" | tr '\n' ' ')
trap 'kill -KILL $server_pid $ranks 2>/dev/null || true' EXIT
check_logprobs_batch_invariant "serve --tp 2" 24 30
metrics=$(curl -s "$base/metrics")
grep -q "^weft_tp_size 2" <<< "$metrics" || fail "/metrics: no weft_tp_size"
grep -qE "^weft_tp_communication_seconds_total [0-9.e-]+" <<< "$metrics" || fail "/metrics: no communication time"
check_killed_rank
echo "ok"
