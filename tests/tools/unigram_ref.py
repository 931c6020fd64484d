#!/usr/bin/env python3
"""An independent Unigram tokenizer in plain Python, for tests: HF tokenizers' semantics
on the tokenizer.json files of make_unigram_tokenizer.py (NFKC normalizer, Metaspace
pre-tokenizer with prepend_scheme always and split, Unigram model with fuse_unk and
byte_fallback). tokenizers.js (the other reference) has no Unigram byte fallback.

Per piece: Viterbi over code points; every vocabulary piece matching at a position is a
node scored by its log probability; a position without a one-character piece gets an
unknown node of score min - 10; ties keep the node whose piece starts first. Runs of
unknown nodes fuse into one unk, or with byte_fallback become the <0xNN> pieces of
their UTF-8 bytes.

usage: unigram_ref.py TOKENIZER_DIR CASES_FILE   (one line of ids per text)
"""
import json
import os
import sys
import unicodedata

SPACE = "\u2581"


def encode_piece(piece, ids, scores, unk_id, unk_score, byte_fallback, max_len):
    n = len(piece)
    best = [None] * (n + 1)  # (total, start, id or None for unknown)
    best[0] = (0.0, 0, None)
    for i in range(n):
        if best[i] is None:
            continue
        single = False
        for j in range(i + 1, min(n, i + max_len) + 1):
            t = ids.get(piece[i:j])
            if t is None:
                continue
            single = single or j == i + 1
            total = best[i][0] + scores[t]
            if best[j] is None or total > best[j][0]:
                best[j] = (total, i, t)
        if not single:
            total = best[i][0] + unk_score
            if best[i + 1] is None or total > best[i + 1][0]:
                best[i + 1] = (total, i, None)
    path, e = [], n
    while e > 0:
        _, s, t = best[e]
        path.append((s, e, t))
        e = s
    path.reverse()
    out, k = [], 0
    while k < len(path):
        s, e, t = path[k]
        if t is not None:
            out.append(t)
            k += 1
            continue
        while k + 1 < len(path) and path[k + 1][2] is None:
            k += 1
            e = path[k][1]
        k += 1
        byte_ids = [ids.get("<0x%02X>" % b) for b in piece[s:e].encode("utf-8")]
        if byte_fallback and all(b is not None for b in byte_ids):
            out += byte_ids
        else:
            out.append(unk_id)
    return out


def main():
    tj = json.load(open(os.path.join(sys.argv[1], "tokenizer.json"), encoding="utf-8"))
    m = tj["model"]
    assert m["type"] == "Unigram" and tj["normalizer"] == {"type": "NFKC"}
    pieces = [p for p, _ in m["vocab"]]
    scores = [s for _, s in m["vocab"]]
    unk_id = m["unk_id"]
    unk_score = min(scores) - 10.0
    scores[unk_id] = unk_score
    ids = {}
    for i, p in enumerate(pieces):
        ids.setdefault(p, i)
    max_len = max(len(p) for p in pieces)
    text = open(sys.argv[2], encoding="utf-8").read()
    if text.endswith("\n"):
        text = text[:-1]
    for case in text.split("\n__ggml_vocab_test__\n"):
        t = unicodedata.normalize("NFKC", case).replace(" ", SPACE)
        if t and not t.startswith(SPACE):
            t = SPACE + t
        out, start = [], 0
        for k in range(1, len(t) + 1):  # split before every SPACE (MergedWithNext)
            if k == len(t) or t[k] == SPACE:
                if k > start:
                    out += encode_piece(t[start:k], ids, scores, unk_id, unk_score, m.get("byte_fallback", False),
                                        max_len)
                start = k
        print(" ".join(map(str, out)))


if __name__ == "__main__":
    main()
