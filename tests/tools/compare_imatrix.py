#!/usr/bin/env python3
"""Compares two importance matrices in llama.cpp's imatrix file format (weft imatrix,
llama-imatrix): the same entry names, value counts and call counts, and every value
within a relative tolerance. Prints the largest relative difference; exit 1 on a
mismatch.

usage: compare_imatrix.py A B [--rtol 1e-3]
"""
import argparse
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    off = 0

    def i32():
        nonlocal off
        (v,) = struct.unpack_from("<i", data, off)
        off += 4
        return v

    entries = {}
    for _ in range(i32()):
        n = i32()
        name = data[off:off + n].decode()
        off += n
        ncall = i32()
        nval = i32()
        vals = struct.unpack_from("<%df" % nval, data, off)
        off += 4 * nval
        entries[name] = (ncall, vals)
    chunks = i32() if off + 4 <= len(data) else None
    return entries, chunks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rtol", type=float, default=1e-3)
    args = ap.parse_args()
    a, ca = read(args.a)
    b, cb = read(args.b)
    ok = True
    if sorted(a) != sorted(b):
        print("entries differ: only in A %s; only in B %s" % (sorted(set(a) - set(b)), sorted(set(b) - set(a))))
        ok = False
    if ca != cb:
        print("chunk counts differ: %s vs %s" % (ca, cb))
        ok = False
    worst, worst_name = 0.0, ""
    for name in sorted(set(a) & set(b)):
        (na, va), (nb, vb) = a[name], b[name]
        if na != nb or len(va) != len(vb):
            print("%s: ncall %d/%d, %d/%d values" % (name, na, nb, len(va), len(vb)))
            ok = False
            continue
        scale = max(max(abs(x) for x in va), 1e-30)
        for x, y in zip(va, vb):
            # relative to the value, floored at 1e-3 of the entry's largest value
            d = abs(x - y) / max(abs(x), abs(y), 1e-3 * scale)
            if d > worst:
                worst, worst_name = d, name
    print("%d entries, largest relative difference %.3g (%s)" % (len(a), worst, worst_name))
    if worst > args.rtol:
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
