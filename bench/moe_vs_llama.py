#!/usr/bin/env python3
"""A mixture-of-experts model in weft and llama.cpp, in the same run on the same file.

Per round (rounds alternate the tools, so a noisy spell of a shared host hits both):
  single stream  weft bench MODEL -p P -n G -r 1 -t T -o json          (pp P, tg G)
                 llama-batched-bench -m MODEL -npp P -ntg G -npl 1 -t T  (S_PP, S_TG),
                 with and without -fa: llama.cpp's better configuration counts
  batched decode weft bench MODEL --batch B --prompt-len 16 --gen-len G -t T --json
                 llama-batched-bench ... -npp 16 -ntg G -npl B          (S_TG)
weft also reports the expert weight bytes its matmuls read per token (an expert read once
per step serves every token routed to it): single-stream decode against the batch.
Prints the median and min..max over the rounds.

  bench/moe_vs_llama.py --weft build/release/bin/weft \\
      --llama-batched-bench /work/ref/llama.cpp/build/bin/llama-batched-bench \\
      --model build/release/synth/synth-mixs-q4_0.gguf --rounds 3
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|"
                 r"\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|")


def weft_single(a):
    p = subprocess.run([a.weft, "bench", a.model, "-p", str(a.prompt), "-n", str(a.gen), "-r", "1", "-t",
                        str(a.threads), "-o", "json"], check=True, capture_output=True, text=True)
    rows = json.loads(p.stdout)
    pp = next(r for r in rows if r["n_prompt"] > 0)
    tg = next(r for r in rows if r["n_gen"] > 0)
    return pp["avg_ts"], tg["avg_ts"], tg["expert_bytes_used_per_token"]


def weft_batch(a):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    subprocess.run([a.weft, "bench", a.model, "--batch", str(a.batch), "--prompt-len", "16", "--gen-len", str(a.gen),
                    "-t", str(a.threads), "--json", out], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(out) as f:
        j = json.load(f)
    os.unlink(out)
    return j["decode_tokens_per_s"], j["expert_bytes_used_per_token"]


def llama(a, npp, npl, fa):
    cmd = [a.llama_batched_bench, "-m", a.model, "-npp", str(npp), "-ntg", str(a.gen), "-npl", str(npl), "-t",
           str(a.threads), "--no-mmap", "-c", str(npl * (npp + a.gen)), "-b", "512", "-ub", "512"] + (["-fa"] if fa else [])
    p = subprocess.run(cmd, check=True, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        m = ROW.match(line.strip())
        if m:
            return float(m.group(6)), float(m.group(8))  # S_PP, S_TG
    sys.exit("no result row in llama-batched-bench's output:\n" + p.stdout[-2000:] + p.stderr[-2000:])


def summary(v):
    return "%.1f (%.1f .. %.1f)" % (statistics.median(v), min(v), max(v))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weft", required=True)
    ap.add_argument("--llama-batched-bench", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    r = {k: [] for k in ("w_pp", "w_tg", "w_b", "w_bytes1", "w_bytesB", "l_pp", "l_tg", "l_pp_fa", "l_tg_fa", "l_b",
                         "l_b_fa")}
    for i in range(a.rounds):
        pp, tg, b1 = weft_single(a)
        r["w_pp"].append(pp); r["w_tg"].append(tg); r["w_bytes1"].append(b1)
        for fa in (False, True):
            lpp, ltg = llama(a, a.prompt, 1, fa)
            r["l_pp_fa" if fa else "l_pp"].append(lpp); r["l_tg_fa" if fa else "l_tg"].append(ltg)
        d, bb = weft_batch(a)
        r["w_b"].append(d); r["w_bytesB"].append(bb)
        for fa in (False, True):
            r["l_b_fa" if fa else "l_b"].append(llama(a, 16, a.batch, fa)[1])
        print("round %d: weft pp %.1f tg %.1f batch %.1f | llama.cpp pp %.1f/%.1f tg %.1f/%.1f batch %.1f/%.1f (-fa off/on)"
              % (i + 1, pp, tg, d, r["l_pp"][-1], r["l_pp_fa"][-1], r["l_tg"][-1], r["l_tg_fa"][-1], r["l_b"][-1],
                 r["l_b_fa"][-1]), file=sys.stderr, flush=True)
    best = lambda x, y: x if statistics.median(x) >= statistics.median(y) else y
    print("| test | weft t/s | llama.cpp t/s (best of -fa off/on) | ratio |")
    print("|---|---|---|---|")
    for name, w, l0, l1 in (("pp%d" % a.prompt, "w_pp", "l_pp", "l_pp_fa"), ("tg%d" % a.gen, "w_tg", "l_tg", "l_tg_fa"),
                            ("decode, batch %d" % a.batch, "w_b", "l_b", "l_b_fa")):
        lb = best(r[l0], r[l1])
        print("| %s | %s | %s | %.2fx |" % (name, summary(r[w]), summary(lb), statistics.median(r[w]) / statistics.median(lb)))
    print()
    print("expert weights read per token: single-stream decode %.2f MB, batch of %d %.2f MB (%.1fx less)"
          % (statistics.median(r["w_bytes1"]) / 1e6, a.batch, statistics.median(r["w_bytesB"]) / 1e6,
             statistics.median(r["w_bytes1"]) / max(1.0, statistics.median(r["w_bytesB"]))))


if __name__ == "__main__":
    main()
