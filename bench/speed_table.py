#!/usr/bin/env python3
"""The speed table of the forward-pass issue: pp512 / tg128 of six synthetic models.

Runs `weft bench MODEL -p 512 -n 128 -t 2 -r R -o jsonl` on each model, in rounds: every
round runs every model once, so a slow spell of a shared host falls on all of them
rather than on one. Prints one markdown row per model: the median of all timed runs of
all rounds, the lowest and highest round mean, llama.cpp's figure and the target (from
the issue), and the memory-read and compute probes the runs measured (their range).

Missing synthetic files are written first with ../shared/tools/synth_gguf.py (about 25 s
each on the project machine), into --synth-dir (never into git).

    bench/speed_table.py                       # 3 rounds of 3 runs, all six models
    bench/speed_table.py --rounds 5 --only l1b-f16,l1b-q4_0
    bench/speed_table.py --weft /tmp/base/weft # an older build, for an A/B

Python 3 standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

# name: (synth_gguf preset, type, llama.cpp pp512, llama.cpp tg128, target pp512, target tg128)
MODELS = {
    "l1b-q4_0": ("l1b", "Q4_0", 166, 58.1, 330, 76),
    "l1b-q8_0": ("l1b", "Q8_0", 110, 33.7, 220, 44),
    "l1b-q4_k_m": ("l1b", "Q4_K_M", 72.6, 43.3, 200, 56),
    "l1b-f16": ("l1b", "F16", 139, 24.6, 210, 27),
    "s135m-q8_0": ("s135m", "Q8_0", 622, 144, 900, 200),
    "q05b-q4_0": ("q05b", "Q4_0", 371, 112, 700, 150),
}

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def ensure_model(name, synth_dir, synth_tool):
    preset, dtype = MODELS[name][0], MODELS[name][1]
    path = os.path.join(synth_dir, f"synth-{name}.gguf")
    if not os.path.exists(path):
        os.makedirs(synth_dir, exist_ok=True)
        print(f"writing {path} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, synth_tool, "--preset", preset, "--type", dtype, "-o", path], check=True,
                       stdout=subprocess.DEVNULL)
    return path


def bench_once(weft, path, reps, threads):
    cmd = [weft, "bench", path, "-p", "512", "-n", "128", "-t", str(threads), "-r", str(reps), "-o", "jsonl"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def span(values, fmt):
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else (fmt.format(lo) + "-" + fmt.format(hi))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weft", default=os.path.join(REPO, "build/release/bin/weft"), help="weft binary")
    ap.add_argument("--synth-dir", default=os.path.join(REPO, "build/release/synth"), help="synthetic models")
    ap.add_argument("--synth-tool", default=os.path.join(REPO, "../shared/tools/synth_gguf.py"))
    ap.add_argument("--rounds", type=int, default=3, help="rounds over all models (default 3)")
    ap.add_argument("--reps", type=int, default=3, help="timed runs per test and round (weft bench -r; default 3)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma list of models (default: all): " + ", ".join(MODELS))
    args = ap.parse_args()

    names = [n for n in args.only.split(",") if n] or list(MODELS)
    for n in names:
        if n not in MODELS:
            ap.error(f"unknown model {n!r}; choose from {', '.join(MODELS)}")
    paths = {n: ensure_model(n, args.synth_dir, args.synth_tool) for n in names}

    # results[name]["pp"|"tg"] = list of (round mean, samples, probe record)
    results = {n: {"pp": [], "tg": []} for n in names}
    commit = "?"
    for r in range(args.rounds):
        for n in names:
            print(f"round {r + 1}/{args.rounds}: {n}", file=sys.stderr, flush=True)
            for rec in bench_once(args.weft, paths[n], args.reps, args.threads):
                commit = rec.get("build_commit", commit)
                kind = "pp" if rec["n_prompt"] > 0 else "tg"
                results[n][kind].append((rec["avg_ts"], rec["samples_ts"], rec))

    print(f"weft {commit}, {args.threads} threads, {args.rounds} rounds x {args.reps} timed runs "
          f"(median of all runs; lowest-highest round mean)\n")
    print("| model | pp512 t/s | llama.cpp | target | tg128 t/s | llama.cpp | target | tg % of probe | "
          "probe read GB/s | probe int8 TOPS | probe fp32 TFLOPS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in names:
        _, _, lpp, ltg, tpp, ttg = MODELS[n]
        row = [n]
        probes = [rec for kind in ("pp", "tg") for _, _, rec in results[n][kind]]
        for kind, lref, target in (("pp", lpp, tpp), ("tg", ltg, ttg)):
            runs = results[n][kind]
            med = statistics.median([s for _, samples, _ in runs for s in samples])
            mark = "**" if med >= target else ""
            row += [f"{mark}{med:.1f}{mark} ({span([m for m, _, _ in runs], '{:.1f}')})", f"{lref}", f"{target}"]
        row.append(span([100 * rec["bandwidth_fraction"] for _, _, rec in results[n]["tg"]], "{:.0f}") + " %")
        row.append(span([rec["mem_bw_gbs"] for rec in probes], "{:.1f}"))
        row.append(span([rec["int8_tops"] for rec in probes], "{:.2f}"))
        row.append(span([rec["fp32_tflops"] for rec in probes], "{:.2f}"))
        print("| " + " | ".join(row) + " |")
    print("\nBold: the median meets the target.")


if __name__ == "__main__":
    main()
