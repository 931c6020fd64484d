#!/usr/bin/env python3
"""Experts on disk (--expert-cache-mem): decode speed and memory against the cache size.

For each capacity (a fraction of the model's expert bytes, and fully resident without the
flag) runs, under /usr/bin/time -v,
  weft bench MODEL -p 0 -n G -r R -t T [--expert-cache-mem BYTES] -o json --probe-mem 16M
(a small bandwidth-probe buffer: the default 1 GiB one would hide the RSS being measured)
and records tg t/s (mean of the R timed runs), the process's peak RSS, the cache's hit
rate and the expert bytes read from the file per generated token. Every capacity runs
once per round, rounds repeated (a shared host's slow spell falls on all); the median over
rounds is reported. Writes a CSV and an SVG plot (tokens/s and peak RSS against the
capacity) when --csv / --svg are given. The decode text is the same at every capacity
(tests/unit/model/expert_cache_test.cc, tests/cli/moe.sh hold that).

  bench/expert_offload.py --weft build/release/bin/weft --model build/release/synth/synth-mixs-q4_0.gguf \\
      --csv docs/expert-offload.csv --svg docs/expert-offload.svg
"""
import argparse
import json
import re
import statistics
import subprocess
import sys


def expert_bytes(a):
    out = subprocess.run([a.weft, "bench", a.model, "-p", "0", "-n", "1", "-r", "1", "-t", str(a.threads),
                          "--expert-cache-mem", "1M", "-o", "json", "--no-warmup"], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)[0]["expert_bytes_total"]


def run(a, capacity):
    cmd = ["/usr/bin/time", "-v", a.weft, "bench", a.model, "-p", "0", "-n", str(a.gen), "-r", str(a.reps), "-t",
           str(a.threads), "-o", "json", "--probe-mem", "16M"] + (["--expert-cache-mem", str(capacity)] if capacity else [])
    p = subprocess.run(cmd, check=True, capture_output=True, text=True)
    row = json.loads(p.stdout)[0]
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    hits, misses = row.get("expert_cache_hits", 0), row.get("expert_cache_misses", 0)
    return {"tg": row["avg_ts"], "rss_mb": rss_kb / 1024.0,
            "hit_rate": hits / (hits + misses) if hits + misses else 1.0,
            "read_mb_per_token": row.get("expert_bytes_read_per_token", 0.0) / 1e6}


def svg(rows, path, title):
    W, H, L, R, T, B = 640, 360, 60, 70, 40, 50
    xs = [r["fraction"] for r in rows]
    tg_max = max(r["tg"] for r in rows) * 1.15
    rss_max = max(r["rss_mb"] for r in rows) * 1.15
    X = lambda f: L + (W - L - R) * f / max(xs)
    Y1 = lambda v: H - B - (H - T - B) * v / tg_max
    Y2 = lambda v: H - B - (H - T - B) * v / rss_max
    s = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="20" font-size="14">%s</text>' % (L, title),
         '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, H - B, W - R, H - B),
         '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, T, L, H - B),
         '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (W - R, T, W - R, H - B),
         '<text x="%d" y="%d" text-anchor="middle">expert cache (share of all expert bytes)</text>' % ((L + W - R) / 2, H - 12),
         '<text x="14" y="%d" fill="#1f77b4" transform="rotate(-90 14 %d)" text-anchor="middle">decode tokens/s</text>'
         % ((T + H - B) / 2, (T + H - B) / 2),
         '<text x="%d" y="%d" fill="#d62728" transform="rotate(90 %d %d)" text-anchor="middle">peak RSS (MiB)</text>'
         % (W - 18, (T + H - B) / 2, W - 18, (T + H - B) / 2)]
    for r in rows:
        s.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (X(r["fraction"]), H - B + 16, r["label"]))
    for i in range(5):
        v = tg_max * i / 4
        s.append('<text x="%d" y="%.1f" text-anchor="end" fill="#1f77b4">%.0f</text>' % (L - 4, Y1(v) + 4, v))
        v2 = rss_max * i / 4
        s.append('<text x="%d" y="%.1f" fill="#d62728">%.0f</text>' % (W - R + 4, Y2(v2) + 4, v2))
    for key, Y, color in (("tg", Y1, "#1f77b4"), ("rss_mb", Y2, "#d62728")):
        pts = " ".join("%.1f,%.1f" % (X(r["fraction"]), Y(r[key])) for r in rows)
        s.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>' % (pts, color))
        for r in rows:
            s.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (X(r["fraction"]), Y(r[key]), color))
    s.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(s) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weft", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--fractions", default="0.125,0.25,0.5,1.0")
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--csv")
    ap.add_argument("--svg")
    a = ap.parse_args()
    total = expert_bytes(a)
    print("expert bytes: %.1f MiB" % (total / 2**20), file=sys.stderr)
    caps = [(float(f), int(total * float(f)) + 1) for f in a.fractions.split(",")] + [(1.15, 0)]
    samples = {c: [] for c in caps}
    for i in range(a.rounds):
        for c in caps:
            samples[c].append(run(a, c[1]))
            print("round %d %s: %s" % (i + 1, c, samples[c][-1]), file=sys.stderr, flush=True)
    rows = []
    for (f, cap), runs in samples.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        med.update(fraction=f, capacity=cap, label="resident" if cap == 0 else "%g%%" % (100 * f),
                   tg_min=min(r["tg"] for r in runs), tg_max=max(r["tg"] for r in runs))
        rows.append(med)
    print("| expert cache | tg%d t/s (min .. max) | peak RSS MiB | hit rate | MB read per token |" % a.gen)
    print("|---|---|---|---|---|")
    for r in rows:
        print("| %s | %.1f (%.1f .. %.1f) | %.0f | %.1f%% | %.2f |" % (r["label"], r["tg"], r["tg_min"], r["tg_max"],
                                                                 r["rss_mb"], 100 * r["hit_rate"], r["read_mb_per_token"]))
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("label,fraction,capacity_bytes,tg_ts,tg_min,tg_max,peak_rss_mib,hit_rate,read_mb_per_token\n")
            for r in rows:
                f.write("%s,%g,%d,%.2f,%.2f,%.2f,%.1f,%.4f,%.3f\n" % (r["label"], r["fraction"], r["capacity"], r["tg"],
                                                                     r["tg_min"], r["tg_max"], r["rss_mb"], r["hit_rate"],
                                                                     r["read_mb_per_token"]))
    if a.svg:
        svg(rows, a.svg, "Experts on disk: decode speed and memory (%s)" % a.model.split("/")[-1])


if __name__ == "__main__":
    main()
