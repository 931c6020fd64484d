#!/usr/bin/env python3
"""Writes a SentencePiece-Unigram tokenizer.json (the layout of T5 / ALBERT files, with an
NFKC normalizer in place of their Precompiled charsmap) learnt crudely from a text:
the pieces are the most frequent substrings (1-8 characters) of the "▁"-escaped words,
scored by log frequency, after <pad> </s> <unk> at ids 0-2. Some characters of the text
are left out on purpose (digits 7-9, 'q', 'é' unless the text lacks them), so that
unknown characters and their fusing (or with --byte-fallback, the <0xNN> pieces) are
exercised. Deterministic for a given text.

usage: make_unigram_tokenizer.py TEXT OUT_DIR [--byte-fallback] [--pieces N]
"""
import argparse
import collections
import json
import math
import os
import unicodedata

SPACE = "\u2581"
LEFT_OUT = set("789qé")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("text")
    ap.add_argument("out_dir")
    ap.add_argument("--byte-fallback", action="store_true")
    ap.add_argument("--pieces", type=int, default=4000)
    a = ap.parse_args()
    text = unicodedata.normalize("NFKC", open(a.text, encoding="utf-8").read()[:400000])
    counts = collections.Counter()
    for word in text.split():
        w = SPACE + word
        for i in range(len(w)):
            for n in range(1, 9):
                if i + n <= len(w):
                    counts[w[i:i + n]] += 1
    chars = sorted({c for c in counts if len(c) == 1 and c not in LEFT_OUT})
    multi = [p for p, _ in sorted(((p, c) for p, c in counts.items() if len(p) > 1 and c >= 3
                                   and not (set(p) & LEFT_OUT)), key=lambda pc: (-pc[1], pc[0]))]
    multi = multi[:max(0, a.pieces - len(chars))]
    total = sum(counts[p] for p in chars + multi)
    vocab = [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
    vocab += [[p, round(math.log(counts[p] / total), 6)] for p in chars + multi]
    if a.byte_fallback:
        vocab += [["<0x%02X>" % b, -30.0] for b in range(256)]
    specials = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": True} for i, t in enumerate(["<pad>", "</s>", "<unk>"])]
    meta = {"type": "Metaspace", "replacement": SPACE, "add_prefix_space": True, "prepend_scheme": "always",
            "split": True}
    tj = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": specials,
          "normalizer": {"type": "NFKC"}, "pre_tokenizer": meta, "post_processor": None,
          "decoder": meta, "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab,
                                     "byte_fallback": a.byte_fallback}}
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    with open(os.path.join(a.out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "add_bos_token": False,
                   "add_eos_token": False, "tokenizer_class": "T5Tokenizer"}, f)


if __name__ == "__main__":
    main()
