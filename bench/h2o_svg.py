#!/usr/bin/env python3
"""Draws bench/h2o_ppl.sh's TSV as an SVG: log-perplexity after the first context (the
positions where every budget policy is evicting) against the KV budget (% of the stated
context), one line per policy, dense as a dashed level.

usage: h2o_svg.py RUNS.tsv OUT.svg
"""
import csv
import sys

COLORS = ["#c44", "#e90", "#48c", "#4a4", "#a6d"]


def main():
    rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
    dense = [r for r in rows if r["policy"] == "dense"]
    series = {}
    for r in rows:
        if r["policy"] == "dense":
            continue
        # "h2o 51 (sinks 4) blocks of 16" -> "h2o (sinks 4) blocks of 16": the budget is the x axis.
        key = " ".join(w for w in r["policy"].split() if w not in (r["budget"], "at"))
        series.setdefault(key, []).append((float(r["budget_pct"]), float(r["logppl_after"])))
    vals = [y for s in series.values() for _, y in s] + [float(r["logppl_after"]) for r in dense]
    lo, hi = min(vals), max(vals)
    pad = (hi - lo) * 0.1 or 0.05
    lo, hi = lo - pad, hi + pad
    left, top, w, h = 70, 50, 520, 300
    x = lambda p: left + w * (p - 0) / 55.0
    y = lambda v: top + h * (1 - (v - lo) / (hi - lo))
    m = rows[0]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">'
           % (left + w + 250, top + h + 60)]
    out.append('<text x="%d" y="20" font-size="13">%s: log-perplexity past the first %s tokens vs KV budget '
               '(context %s, %s tokens of WikiText-2, chunks of %s, F32 KV)</text>'
               % (left, m["model"], m["context"], m["context"], m["tokens"], m["chunk"]))
    for i in range(6):
        v = lo + (hi - lo) * i / 5
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (left, left + w, y(v), y(v)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.3f</text>' % (left - 4, y(v) + 4, v))
    for p in (10, 20, 50):
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/>' % (x(p), x(p), top, top + h))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d %%</text>' % (x(p), top + h + 16, p))
    out.append('<text x="%d" y="%d" text-anchor="middle">KV budget (%% of the context)</text>' % (left + w / 2, top + h + 36))
    ly = top + 10
    for i, (name, pts) in enumerate(sorted(series.items())):
        c = COLORS[i % len(COLORS)]
        pts.sort()
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                   % (c, " ".join("%.1f,%.1f" % (x(p), y(v)) for p, v in pts)))
        for p, v in pts:
            out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (x(p), y(v), c))
        out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                   % (left + w + 10, left + w + 30, ly, ly, c))
        out.append('<text x="%d" y="%d">%s</text>' % (left + w + 34, ly + 4, name))
        ly += 18
    for r in dense:
        v = float(r["logppl_after"])
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#000" stroke-dasharray="5,4"/>'
                   % (left, left + w, y(v), y(v)))
        out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#000" stroke-dasharray="5,4"/>'
                   % (left + w + 10, left + w + 30, ly, ly))
        out.append('<text x="%d" y="%d">dense (all KV)</text>' % (left + w + 34, ly + 4))
    out.append("</svg>")
    open(sys.argv[2], "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
