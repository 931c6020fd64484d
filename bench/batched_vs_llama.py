#!/usr/bin/env python3
"""weft's engine against llama.cpp's llama-batched-bench, in the same run on the same file.

B requests of P prompt tokens each generate G tokens, all at once:
  weft bench MODEL --batch B --prompt-len P --gen-len G -t T --json ...
  llama-batched-bench -m MODEL -npp P -ntg G -npl B -t T -fa --no-mmap -c B*(P+G)
in alternating rounds (weft, llama.cpp, weft, ...) so that a noisy spell of the host hits
both alike. Reports per tool the median and the min..max over the rounds of
  decode t/s  - generated tokens per second of the steps that computed no prompt token
                (weft: decode_tokens_per_s; llama.cpp: S_TG)
  total t/s   - (prompt + generated tokens) / the whole run's wall time
                (weft: prompt_tokens + generated_tokens over wall_s; llama.cpp: S)
Neither tool's load time is counted. llama.cpp is a reference tool built from source
outside this repository (see BENCHMARKS.md for how).

  bench/batched_vs_llama.py --weft build/release/bin/weft \\
      --llama-batched-bench /work/ref/llama.cpp/build/bin/llama-batched-bench \\
      --model build/release/synth/synth-l1b-q4_0.gguf --batch 16 --prompt-len 128 --gen-len 128 --rounds 3
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile


def run_weft(a):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [a.weft, "bench", a.model, "--batch", str(a.batch), "--prompt-len", str(a.prompt_len),
           "--gen-len", str(a.gen_len), "-t", str(a.threads), "--json", out]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(out) as f:
        j = json.load(f)
    os.unlink(out)
    total = (j["prompt_tokens"] + j["generated_tokens"]) / j["wall_s"]
    return j["decode_tokens_per_s"], total


ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|"
                 r"\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|")


def run_llama(a):
    ctx = a.batch * (a.prompt_len + a.gen_len)
    cmd = [a.llama_batched_bench, "-m", a.model, "-npp", str(a.prompt_len), "-ntg", str(a.gen_len),
           "-npl", str(a.batch), "-t", str(a.threads), "-fa", "--no-mmap", "-c", str(ctx)]
    p = subprocess.run(cmd, check=True, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        m = ROW.match(line.strip())
        if m:
            s_tg, s = float(m.group(8)), float(m.group(10))
            return s_tg, s
    sys.exit("no result row in llama-batched-bench's output:\n" + p.stdout[-2000:] + p.stderr[-2000:])


def summary(vals):
    return "%8.1f  (%.1f .. %.1f)" % (statistics.median(vals), min(vals), max(vals))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weft", required=True)
    ap.add_argument("--llama-batched-bench", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--gen-len", type=int, default=128)
    ap.add_argument("--threads", "-t", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    res = {"weft": ([], []), "llama.cpp": ([], [])}
    for r in range(a.rounds):
        for name, fn in (("weft", run_weft), ("llama.cpp", run_llama)):
            d, t = fn(a)
            res[name][0].append(d)
            res[name][1].append(t)
            print("round %d %-9s decode %8.1f t/s  total %8.1f t/s" % (r + 1, name, d, t), flush=True)
    print("\n%s: B=%d, %d prompt + %d generated tokens each, %d threads, %d rounds (median, min .. max)"
          % (os.path.basename(a.model), a.batch, a.prompt_len, a.gen_len, a.threads, a.rounds))
    print("%-10s %-28s %-28s" % ("tool", "decode t/s (S_TG)", "total t/s (S)"))
    for name, (d, t) in res.items():
        print("%-10s %-28s %-28s" % (name, summary(d), summary(t)))
    print("weft / llama.cpp: decode %.2fx, total %.2fx" % (
        statistics.median(res["weft"][0]) / statistics.median(res["llama.cpp"][0]),
        statistics.median(res["weft"][1]) / statistics.median(res["llama.cpp"][1])))


if __name__ == "__main__":
    main()
