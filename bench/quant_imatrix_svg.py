#!/usr/bin/env python3
"""Draws the KL-divergence table of bench/quant_imatrix.sh as an SVG bar chart: for each
model and type, round-to-nearest against importance-matrix, GPTQ and AWQ quantisation
(log scale). Several tables may be given (rows of a later one replace the same model,
type and method of an earlier one).

usage: quant_imatrix_svg.py TABLE.md [TABLE.md ...] OUT.svg
"""
import math
import sys

METHODS = ("rtn", "imatrix", "gptq", "gptq-ao", "awq")
LABELS = {"rtn": "RTN", "imatrix": "imatrix", "gptq": "GPTQ", "gptq-ao": "GPTQ act-order", "awq": "AWQ"}


def parse(path):
    rows = []
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 6 or cells[2] not in METHODS:
            continue
        try:
            kl = float(cells[5])
        except ValueError:
            continue
        rows.append((cells[0], cells[1], cells[2], kl))
    return rows


def main():
    by_key = {}
    for path in sys.argv[1:-1]:
        for model, typ, method, kl in parse(path):
            by_key.setdefault((model, typ), {})[method] = kl
    groups = list(by_key.items())
    w_group, bar, left, top, height = 130, 22, 70, 40, 260
    width = left + w_group * len(groups) + 20
    vals = [v for _, d in groups for v in d.values() if v > 0]
    lo = 10 ** math.floor(math.log10(min(vals)))
    hi = 10 ** math.ceil(math.log10(max(vals)))

    def y(v):
        return top + height * (1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">'
           % (width, top + height + 70)]
    out.append('<text x="%d" y="20" font-size="13">KL divergence against the unquantised model (nats, log scale): '
               'round-to-nearest, importance matrix, GPTQ, AWQ</text>' % left)
    e = math.log10(lo)
    while e <= math.log10(hi) + 1e-9:
        v = 10 ** e
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (left, width - 20, y(v), y(v)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (left - 4, y(v) + 4, v))
        e += 1
    colors = {"rtn": "#c44", "imatrix": "#48c", "gptq": "#4a4", "gptq-ao": "#a6d", "awq": "#e90"}
    for i, ((model, typ), d) in enumerate(groups):
        x0 = left + i * w_group + 8
        for j, m in enumerate(METHODS):
            if m in d and d[m] > 0:
                yy = y(d[m])
                out.append('<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"/>'
                           % (x0 + j * bar, yy, bar - 2, top + height - yy, colors[m]))
        short = typ.replace("--pure ", "").replace("--tensor-type ", "")
        out.append('<text x="%.0f" y="%d" text-anchor="middle" font-size="10">%s</text>'
                   % (x0 + 2.5 * bar, top + height + 14, short))
        out.append('<text x="%.0f" y="%d" text-anchor="middle" fill="#666">%s</text>'
                   % (x0 + 2.5 * bar, top + height + 28, model.replace("TinyLLama-v0.Q4_0", "TinyLLama-v0")))
    ly = top + height + 50
    for j, m in enumerate(METHODS):
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (left + j * 140, ly - 10, colors[m]))
        out.append('<text x="%d" y="%d">%s</text>' % (left + j * 140 + 16, ly, LABELS[m]))
    out.append("</svg>")
    open(sys.argv[-1], "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
