#!/usr/bin/env python3
"""Writes a tiny Hugging Face llama model with random weights around a real tokenizer, for
tests of weft's HF input (weft quantize DIR ...): config.json (the given tokenizer's
config.json with the sizes replaced), tokenizer.json (and tokenizer_config.json when the
tokenizer directory has one), and model.safetensors (F32, HF tensor names, seeded).

  write_tiny_hf_llama.py TOKENIZER_DIR OUT_DIR [--seed N] [--untied] [--qwen2] [--llama3-rope]

Shapes: hidden 64, 2 layers, 4 heads / 2 KV heads (head_dim 16), FFN 128, the
tokenizer's vocabulary. --qwen2: model_type qwen2 with q/k/v biases (rotate-half RoPE
in GGUF too). --llama3-rope: Llama 3.1's "llama3" rope scaling (theta 500000, factor 8).
Deterministic for a seed. Python standard library only.
"""
import argparse
import json
import os
import random
import shutil
import struct


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, (shape, values) in tensors.items():
        data = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tokenizer_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--untied", action="store_true", help="write an lm_head.weight of its own")
    ap.add_argument("--qwen2", action="store_true", help="a Qwen2 model (q/k/v biases)")
    ap.add_argument("--llama3-rope", action="store_true", help="Llama 3.1's llama3 rope scaling")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.tokenizer_dir, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(a.tokenizer_dir, "tokenizer.json")) as f:
        tok = json.load(f)
    vocab = max(max(tok["model"]["vocab"].values()), max([t["id"] for t in tok.get("added_tokens", [])] or [0])) + 1
    d, layers, heads, kv_heads, ff = 64, 2, 4, 2, 128
    hd = d // heads
    config.update({"hidden_size": d, "num_hidden_layers": layers, "num_attention_heads": heads,
                   "num_key_value_heads": kv_heads, "intermediate_size": ff, "vocab_size": vocab,
                   "tie_word_embeddings": not a.untied, "max_position_embeddings": 2048,
                   "torch_dtype": "float32"})
    config.pop("transformers.js_config", None)
    if a.llama3_rope:
        config.update({"rope_theta": 500000.0, "rope_scaling": {
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192}})
    if a.qwen2:
        config.update({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "use_sliding_window": False,
                       "sliding_window": None})
    with open(os.path.join(a.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        src = os.path.join(a.tokenizer_dir, name)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(a.out_dir, name))
    r = random.Random(a.seed)

    def mat(rows, cols, scale):
        return [rows, cols], [r.uniform(-scale, scale) for _ in range(rows * cols)]

    def norm(n):
        return [n], [1.0 + r.uniform(-0.1, 0.1) for _ in range(n)]

    t = {"model.embed_tokens.weight": mat(vocab, d, 1.0)}
    for i in range(layers):
        p = "model.layers.%d." % i
        t[p + "input_layernorm.weight"] = norm(d)
        t[p + "self_attn.q_proj.weight"] = mat(heads * hd, d, 0.3)
        t[p + "self_attn.k_proj.weight"] = mat(kv_heads * hd, d, 0.3)
        t[p + "self_attn.v_proj.weight"] = mat(kv_heads * hd, d, 0.3)
        t[p + "self_attn.o_proj.weight"] = mat(d, heads * hd, 0.2)
        if a.qwen2:
            for n, rows in (("q", heads * hd), ("k", kv_heads * hd), ("v", kv_heads * hd)):
                t[p + "self_attn.%s_proj.bias" % n] = [rows], [r.uniform(-0.5, 0.5) for _ in range(rows)]
        t[p + "post_attention_layernorm.weight"] = norm(d)
        t[p + "mlp.gate_proj.weight"] = mat(ff, d, 0.2)
        t[p + "mlp.up_proj.weight"] = mat(ff, d, 0.2)
        t[p + "mlp.down_proj.weight"] = mat(d, ff, 0.15)
    t["model.norm.weight"] = norm(d)
    if a.untied:
        t["lm_head.weight"] = mat(vocab, d, 0.5)
    write_safetensors(os.path.join(a.out_dir, "model.safetensors"), t)


if __name__ == "__main__":
    main()
