#!/usr/bin/env python3
"""Compares two WGLD v2 logits files (../shared/golden/README.md) over the same tokens,
at the positions both keep: prints rms and max |a - b| and the top-1 agreement, and
exits 1 when a bound is broken.

  compare_logits.py ref.logits weft.logits --max-abs 1e-3 --rms 1e-4 [--label NAME]
  compare_logits.py ref.logits weft.logits --bar-from llamacpp.logits

--bar-from: the golden bar (../shared/golden/README.md): weft may be at most 1.5x as far
from the reference as that file (llama.cpp's logits) is, + 1e-4 (rms) / 1e-3 (max).
"""
import argparse
import math
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        b = f.read()
    magic, version, n_vocab, n_tokens, n_keep = struct.unpack_from("<5I", b, 0)
    assert magic == 0x444C4757 and version == 2, "%s: not a WGLD v2 file" % path
    o = 20
    tokens = struct.unpack_from("<%dI" % n_tokens, b, o)
    o += 4 * n_tokens
    keep = struct.unpack_from("<%dI" % n_keep, b, o)
    o += 4 * n_keep
    logits = struct.unpack_from("<%df" % (n_keep * n_vocab), b, o)
    return n_vocab, tokens, keep, logits


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ref")
    ap.add_argument("got")
    ap.add_argument("--max-abs", type=float)
    ap.add_argument("--rms", type=float)
    ap.add_argument("--bar-from", help="set the bounds from this file's distance to ref (the golden bar)")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    ref, got = read(a.ref), read(a.got)
    if a.bar_from:
        bar = read(a.bar_from)
        b_rms, b_max, _, _ = distance(ref, bar, a.label)
        a.rms, a.max_abs = 1.5 * b_rms + 1e-4, 1.5 * b_max + 1e-3
        print("     %s: the bar's file is at rms %.2e, max|diff| %.2e from the reference" % (a.label, b_rms, b_max))
    if a.rms is None or a.max_abs is None:
        ap.error("give --rms and --max-abs, or --bar-from")
    rms, worst, agree, n = distance(ref, got, a.label)
    ok = rms <= a.rms and worst <= a.max_abs
    print("%s %s: rms %.2e (bound %.1e), max|diff| %.2e (bound %.1e), top-1 %d/%d"
          % ("ok  " if ok else "FAIL", a.label, rms, a.rms, worst, a.max_abs, agree, n))
    sys.exit(0 if ok else 1)


def distance(ref, got, label):
    """(rms, max |diff|, top-1 agreements, positions) over the positions both files keep."""
    rv, rt, rk, rl = ref
    gv, gt, gk, gl = got
    if (rv, rt) != (gv, gt):
        sys.exit("%s: the files cover different tokens or vocabularies" % label)
    rows = {p: i for i, p in enumerate(rk)}
    sq, worst, agree, n = 0.0, 0.0, 0, 0
    for j, p in enumerate(gk):
        if p not in rows:
            continue
        r = rl[rows[p] * rv:(rows[p] + 1) * rv]
        g = gl[j * gv:(j + 1) * gv]
        for x, y in zip(r, g):
            sq += (x - y) ** 2
            worst = max(worst, abs(x - y))
        agree += max(range(rv), key=r.__getitem__) == max(range(gv), key=g.__getitem__)
        n += 1
    if n == 0:
        sys.exit("%s: the files keep no position in common" % label)
    return math.sqrt(sq / (n * rv)), worst, agree, n


if __name__ == "__main__":
    main()
