#!/usr/bin/env python3
"""Several streams of bench/stream_100k.py in one figure: tokens/s (per bucket of
generated tokens) and the KV cache held (percent of the server's cache) against the
position, one line per run, so that KV policies can be compared at a glance.

usage: stream_overlay_svg.py OUT.svg TITLE BUCKET LABEL=stream_x.csv [LABEL=stream_y.csv ...]
"""
import csv
import sys

from stream_100k import tokens_per_second

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def read(path):
    with open(path) as f:
        return [(float(r["seconds"]), int(r["generated_tokens"]), float(r["rss_mib"]), float(r["kv_usage_percent"]))
                for r in csv.DictReader(f)]


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    out, title, bucket = sys.argv[1], sys.argv[2], int(sys.argv[3])
    runs = []
    for arg in sys.argv[4:]:
        label, path = arg.split("=", 1)
        rows = read(path)
        runs.append((label, rows, tokens_per_second(rows, bucket)))
    w, left, top, ph, gap = 760, 70, 40, 170, 60
    h = top + 2 * ph + gap + 60 + 18 * len(runs)
    xmax = max(r[1] for _, rows, _ in runs for r in rows) or 1
    pw = w - left - 20

    def x_of(v):
        return left + pw * v / xmax

    def panel(y0, series_of, ylabel, ymax):
        out = [f'<rect x="{left}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
               f'<text x="14" y="{y0 + ph / 2}" font-size="12" transform="rotate(-90 14 {y0 + ph / 2})" '
               f'text-anchor="middle">{ylabel}</text>']
        for k in range(5):
            y = y0 + ph - ph * k / 4
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{ymax * k / 4:.0f}</text>')
        for i, run in enumerate(runs):
            pts = " ".join(f"{x_of(x):.1f},{y0 + ph - ph * min(v, ymax) / ymax:.1f}" for x, v in series_of(run))
            out.append(f'<polyline fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1.6" points="{pts}"/>')
        return out

    tps_max = max((b[1] for _, _, bs in runs for b in bs), default=1) * 1.15
    kv_max = max(r[3] for _, rows, _ in runs for r in rows) * 1.15 or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif">',
             f'<text x="{w / 2}" y="20" font-size="14" text-anchor="middle">{title}</text>']
    parts += panel(top, lambda run: run[2], "tokens/s", tps_max)
    parts += panel(top + ph + gap, lambda run: [(r[1], r[3]) for r in run[1]], "KV cache held, %", kv_max)
    y_axis = top + 2 * ph + gap
    for k in range(6):
        parts.append(f'<text x="{x_of(xmax * k / 5):.1f}" y="{y_axis + 16}" font-size="10" '
                     f'text-anchor="middle">{xmax * k / 5:.0f}</text>')
    parts.append(f'<text x="{(w + left) / 2}" y="{y_axis + 34}" font-size="12" text-anchor="middle">'
                 'generated tokens</text>')
    for i, (label, _, _) in enumerate(runs):
        y = y_axis + 56 + 18 * i
        parts.append(f'<line x1="{left}" y1="{y - 4}" x2="{left + 24}" y2="{y - 4}" '
                     f'stroke="{COLORS[i % len(COLORS)]}" stroke-width="2"/>')
        parts.append(f'<text x="{left + 30}" y="{y}" font-size="11">{label}</text>')
    parts.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
