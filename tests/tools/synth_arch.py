#!/usr/bin/env python3
"""Tiny synthetic F32 GGUF models, one preset per architecture weft registers.

Each preset has its architecture's own tensors and hyper-parameters at tiny shapes, so
that tests/tools/ref_forward.py (a float64 forward pass in plain Python) can compute the
exact logits and weft's forward pass can be held to them (tests/cli/arch_reference.sh).
Weights are deterministic: seeded per tensor name, as in ../shared/tools/synth_gguf.py,
whose GGUF writing helpers this file uses. No tokenizer is written: the tests feed ids.

  synth_arch.py --preset qwen3 -o qwen3.gguf
  synth_arch.py --preset gemma2 --vocab stories260K.gguf -o g.gguf   # with a vocabulary
  synth_arch.py --list          # preset and architecture, one per line
  synth_arch.py --preset dsv2lite2 --type Q4_0 --vocab ggml-vocab-llama-spm.gguf -o d.gguf

--type Q4_0 / Q8_0 writes the matrices (and embedding, router) quantised, from random
blocks as synth_gguf.py makes them (for the real-width presets, too large to write value
by value); norms and biases stay F32. ref_forward.py reads F32 files only.

Adding an architecture: a preset below (its GGUF keys and tensors) and the matching
forward pass in ref_forward.py.
"""
import argparse
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "shared", "tools"))
import synth_gguf  # noqa: E402  (kv_entry, w_str, rng_for, rand_f32_vec)

# name: hyper-parameters. head_dim may differ from n_embd / n_head (qwen3 does).
PRESETS = {
    # Llama: interleaved rope pairs, no biases, untied output.
    "llama": dict(arch="llama", n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=16, n_ff=160,
                  n_vocab=300, tied=False, theta=10000.0, eps=1e-5),
    # Qwen2: q/k/v biases, NeoX rope, tied embeddings.
    "qwen2": dict(arch="qwen2", n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=16, n_ff=160,
                  n_vocab=300, tied=True, theta=1000000.0, eps=1e-6),
    # Mistral: the llama layout with a sliding window of 7 in every layer (24-token tests
    # see it slide).
    "mistral": dict(arch="llama", n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=16, n_ff=160,
                    n_vocab=300, tied=False, theta=10000.0, eps=1e-5, sliding_window=7),
    # Gemma 2: GeGLU, post-attention and post-FFN norms, embeddings x sqrt(n_embd), layer 0
    # local (window 7) and layer 1 global, soft-caps low enough that tanh bends (real
    # models: 50 / 30).
    "gemma2": dict(arch="gemma2", n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=16, n_ff=160,
                   n_vocab=300, tied=True, theta=10000.0, eps=1e-6, sliding_window=7,
                   attn_logit_softcapping=1.5, final_logit_softcapping=3.0),
    # Gemma 3: Gemma 2's layout plus per-head q/k norms, no soft-caps; local layers (window
    # 7) with rope base 10000, the global one with 1e6; pattern 2 here (real models: 6).
    "gemma3": dict(arch="gemma3", n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=32, n_ff=160,
                   n_vocab=300, tied=True, theta=1000000.0, eps=1e-6, sliding_window=7, sliding_window_pattern=2),
    # Qwen3: per-head q/k RMSNorm, NeoX rope, no biases, head_dim 32 != n_embd / n_head.
    "qwen3": dict(arch="qwen3", n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=32, n_ff=160,
                  n_vocab=300, tied=True, theta=1000000.0, eps=1e-6),
    # Phi-3: q/k/v fused in attn_qkv and gate/up in ffn_up (gate rows first), NeoX rope, a
    # sliding window of 7 in every layer (Phi-3-mini-4k: 2047), no GQA (as Phi-3-mini).
    "phi3": dict(arch="phi3", n_embd=64, n_layer=2, n_head=4, n_head_kv=4, head_dim=16, n_ff=160,
                 n_vocab=300, tied=False, theta=10000.0, eps=1e-5, sliding_window=7),
    # Phi-3-128k / Phi-3.5's LongRoPE (tensors rope_factors_long/short, as llama.cpp's
    # converter writes them): context 256 over an original 64 takes the long divisors
    # (up to ~16) and cos/sin x sqrt(1 + ln 4 / ln 64), with phi3's window of 7;
    # phi3longshort's original 512 is above its context, so the short set applies and the
    # magnitude stays 1; no window (0, as Phi-4 writes it).
    "phi3long": dict(arch="phi3", n_embd=64, n_layer=2, n_head=4, n_head_kv=4, head_dim=16, n_ff=160,
                     n_vocab=300, tied=False, theta=10000.0, eps=1e-5, longrope=64, sliding_window=7),
    "phi3longshort": dict(arch="phi3", n_embd=64, n_layer=2, n_head=4, n_head_kv=4, head_dim=16, n_ff=160,
                          n_vocab=300, tied=False, theta=10000.0, eps=1e-5, longrope=512, sliding_window=0),
    # Phi-4-mini's form: partial rotary (12 of 16 dims, factor 0.75), LongRoPE over those 12
    # (6 divisor pairs), GQA, no window.
    "phi4mini": dict(arch="phi3", n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=16, n_ff=160, rope_dim=12,
                     n_vocab=300, tied=False, theta=10000.0, eps=1e-5, longrope=64, sliding_window=0),
    # Mixtures of experts (experts as llama.cpp's 3-D ffn_*_exps tensors):
    # Mixtral: the llama layout with 4 experts, top 2 renormalised.
    "mixtral": dict(arch="llama", n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=16, n_ff=96,
                    n_vocab=300, tied=False, theta=10000.0, eps=1e-5, n_expert=4, n_expert_used=2),
    # Qwen2-MoE: qwen2 (biases, NeoX) with 6 experts of 48, top 2 not renormalised, and a
    # shared expert of 80 behind its sigmoid gate.
    "qwen2moe": dict(arch="qwen2moe", n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=16, n_ff=160,
                     n_vocab=300, tied=False, theta=1000000.0, eps=1e-6, n_expert=6, n_expert_used=2,
                     n_ff_expert=48, n_ff_shared=80),
    # Qwen3-MoE: qwen3 (q/k norms, head_dim 32) with 8 experts of 40, top 3 renormalised.
    # OLMoE: RMSNorm over the whole q and k projections (n_head * head_dim wide), NeoX rope,
    # 8 experts of the model's ffn, top 2 not renormalised; no GQA (as OLMoE-1B-7B).
    "olmoe": dict(arch="olmoe", n_embd=64, n_layer=2, n_head=4, n_head_kv=4, head_dim=16, n_ff=48,
                  n_vocab=300, tied=False, theta=10000.0, eps=1e-5, n_expert=8, n_expert_used=2),
    # DeepSeek (GGUF arch deepseek2): latent attention (kv_lora_rank 32, per head 16
    # unrotated + 8 rotated q/k dims, values of 12), the first layer dense (n_ff 96), then
    # 8 experts of 32 plus 2 shared ones (one shared FFN of 64, ungated).
    # deepseek2: V2's q bottleneck (q_lora_rank 32), softmax routing, top 2 not
    # renormalised, weights x 2.0 (V2: 16).
    "deepseek2": dict(arch="deepseek2", n_embd=64, n_layer=3, n_head=4, n_head_kv=4, head_dim=24, n_ff=96,
                      n_vocab=300, tied=False, theta=10000.0, eps=1e-6, n_expert=8, n_expert_used=2,
                      n_ff_expert=32, n_expert_shared=2, q_lora_rank=32, kv_lora_rank=32, rope_dim=8,
                      v_head_dim=12, lead_dense=1, expert_scale=2.0, expert_norm=False, gating=1),
    # deepseek2lite: V2-Lite's q projection without the bottleneck (llama.cpp takes a
    # deepseek2 file for Lite only at 27 layers: --layers 27).
    "deepseek2lite": dict(arch="deepseek2", n_embd=64, n_layer=2, n_head=4, n_head_kv=4, head_dim=24, n_ff=96,
                          n_vocab=300, tied=False, theta=10000.0, eps=1e-6, n_expert=8, n_expert_used=2,
                          n_ff_expert=32, n_expert_shared=2, q_lora_rank=0, kv_lora_rank=32, rope_dim=8,
                          v_head_dim=12, lead_dense=1, expert_scale=1.0, expert_norm=False, gating=1),
    # deepseek3: V3's routing: sigmoid scores, a selection bias (exp_probs_b), 8 experts
    # in 4 groups of which a token's best 2 (by the sum of their best two) are eligible,
    # top 3 renormalised, x 2.5.
    "deepseek3": dict(arch="deepseek2", n_embd=64, n_layer=3, n_head=4, n_head_kv=4, head_dim=24, n_ff=96,
                      n_vocab=300, tied=False, theta=10000.0, eps=1e-6, n_expert=8, n_expert_used=3,
                      n_ff_expert=32, n_expert_shared=1, q_lora_rank=32, kv_lora_rank=32, rope_dim=8,
                      v_head_dim=12, lead_dense=1, expert_scale=2.5, expert_norm=True, gating=2,
                      expert_groups=4, expert_groups_used=2),
    # deepseek2yarn: deepseek2 with V2's YaRN context extension (factor 4 over 64 positions:
    # the 4 rope pairs span original, blended and interpolated frequencies) and its score
    # scale (1 + 0.0707 ln 4)^2.
    "deepseek2yarn": dict(arch="deepseek2", n_embd=64, n_layer=3, n_head=4, n_head_kv=4, head_dim=24, n_ff=96,
                          n_vocab=300, tied=False, theta=10000.0, eps=1e-6, n_expert=8, n_expert_used=2,
                          n_ff_expert=32, n_expert_shared=2, q_lora_rank=32, kv_lora_rank=32, rope_dim=8,
                          v_head_dim=12, lead_dense=1, expert_scale=2.0, expert_norm=False, gating=1,
                          yarn=(4.0, 64, 0.0707)),
    "qwen3moe": dict(arch="qwen3moe", n_embd=64, n_layer=2, n_head=4, n_head_kv=2, head_dim=32, n_ff=160,
                     n_vocab=300, tied=False, theta=1000000.0, eps=1e-6, n_expert=8, n_expert_used=3,
                     n_ff_expert=40),
}


# Real widths, two layers, for engine tests and llama.cpp comparisons of quantised files
# (--type Q4_0): too large for ref_forward.py, so not in --list (cli.arch_reference).
REAL_WIDTH = {
    # Real width, two layers (engine tests at the shapes users run): DeepSeek-V2-Lite's
    # attention (width 2048, 16 heads of 128 + 64 rope dims, latent 512, values 128, no q
    # bottleneck), its dense first layer (10944) and shared experts (2 x 1408), with 16
    # routed experts of 1408 (V2-Lite: 64), top 6.
    "dsv2lite2": dict(arch="deepseek2", n_embd=2048, n_layer=2, n_head=16, n_head_kv=16, head_dim=192, n_ff=10944,
                      n_vocab=32000, tied=False, theta=10000.0, eps=1e-6, n_expert=16, n_expert_used=6,
                      n_ff_expert=1408, n_expert_shared=2, q_lora_rank=0, kv_lora_rank=512, rope_dim=64,
                      v_head_dim=128, lead_dense=1, expert_scale=1.0, expert_norm=False, gating=1),
    # The same with V2's q bottleneck (1536): the form this llama.cpp loads at 2 layers.
    "dsv2q2": dict(arch="deepseek2", n_embd=2048, n_layer=2, n_head=16, n_head_kv=16, head_dim=192, n_ff=10944,
                   n_vocab=32000, tied=False, theta=10000.0, eps=1e-6, n_expert=16, n_expert_used=6,
                   n_ff_expert=1408, n_expert_shared=2, q_lora_rank=1536, kv_lora_rank=512, rope_dim=64,
                   v_head_dim=128, lead_dense=1, expert_scale=1.0, expert_norm=False, gating=1),
    # Qwen1.5-MoE-A2.7B's widths (2048, 16 heads, experts of 1408 top 4, a shared expert
    # of 5632 behind its gate) with 16 experts (it has 60), two layers.
    "q2moe2": dict(arch="qwen2moe", n_embd=2048, n_layer=2, n_head=16, n_head_kv=16, head_dim=128, n_ff=5632,
                   n_vocab=32000, tied=False, theta=1000000.0, eps=1e-6, n_expert=16, n_expert_used=4,
                   n_ff_expert=1408, n_ff_shared=5632),
    # Phi-3-mini's widths (3072, 32 heads of 96 with fused qkv, fused gate_up of 2 x 8192),
    # two layers, the llama SPM vocabulary (Phi-3 has 32064). Its window is 2047; here 40,
    # so that the engine test's sequences (up to 67 tokens) run past it.
    "phi3mini2": dict(arch="phi3", n_embd=3072, n_layer=2, n_head=32, n_head_kv=32, head_dim=96, n_ff=8192,
                      n_vocab=32000, tied=False, theta=10000.0, eps=1e-5, sliding_window=40),
}
PRESETS.update(REAL_WIDTH)


def tensor_list(p):
    """(name, ne (fastest first), kind) of every tensor of preset p."""
    d, hd, H, Hkv, ff, V = p["n_embd"], p["head_dim"], p["n_head"], p["n_head_kv"], p["n_ff"], p["n_vocab"]
    T = [("token_embd.weight", (d, V), "embd"), ("output_norm.weight", (d,), "norm")]
    if "longrope" in p:
        R = p.get("rope_dim", hd) // 2
        T += [("rope_factors_long.weight", (R,), "rope_long"), ("rope_factors_short.weight", (R,), "rope_short")]
    if not p["tied"]:
        T.append(("output.weight", (d, V), "matrix"))
    for i in range(p["n_layer"]):
        b = "blk.%d." % i
        if p["arch"] == "deepseek2":
            T += deepseek2_layer(p, i)
            continue
        if p["arch"] == "phi3":
            T += [(b + "attn_norm.weight", (d,), "norm"), (b + "attn_qkv.weight", (d, (H + 2 * Hkv) * hd), "matrix"),
                  (b + "attn_output.weight", (H * hd, d), "matrix"), (b + "ffn_norm.weight", (d,), "norm"),
                  (b + "ffn_up.weight", (d, 2 * ff), "matrix"), (b + "ffn_down.weight", (ff, d), "matrix")]
            continue
        T += [(b + "attn_norm.weight", (d,), "norm"),
              (b + "attn_q.weight", (d, H * hd), "matrix"),
              (b + "attn_k.weight", (d, Hkv * hd), "matrix"),
              (b + "attn_v.weight", (d, Hkv * hd), "matrix")]
        if p["arch"] in ("qwen2", "qwen2moe"):
            T += [(b + "attn_q.bias", (H * hd,), "bias"), (b + "attn_k.bias", (Hkv * hd,), "bias"),
                  (b + "attn_v.bias", (Hkv * hd,), "bias")]
        if p["arch"] in ("qwen3", "gemma3", "qwen3moe"):
            T += [(b + "attn_q_norm.weight", (hd,), "norm"), (b + "attn_k_norm.weight", (hd,), "norm")]
        if p["arch"] == "olmoe":
            T += [(b + "attn_q_norm.weight", (H * hd,), "norm"), (b + "attn_k_norm.weight", (Hkv * hd,), "norm")]
        T += [(b + "attn_output.weight", (H * hd, d), "matrix")]
        if p["arch"].startswith("gemma"):
            T += [(b + "post_attention_norm.weight", (d,), "norm"), (b + "post_ffw_norm.weight", (d,), "norm")]
        if "n_expert" in p:
            E, fe, fs = p["n_expert"], p.get("n_ff_expert", ff), p.get("n_ff_shared", 0)
            T += [(b + "ffn_norm.weight", (d,), "norm"), (b + "ffn_gate_inp.weight", (d, E), "router"),
                  (b + "ffn_gate_exps.weight", (d, fe, E), "matrix"), (b + "ffn_up_exps.weight", (d, fe, E), "matrix"),
                  (b + "ffn_down_exps.weight", (fe, d, E), "matrix")]
            if fs:
                T += [(b + "ffn_gate_inp_shexp.weight", (d,), "router"),
                      (b + "ffn_gate_shexp.weight", (d, fs), "matrix"), (b + "ffn_up_shexp.weight", (d, fs), "matrix"),
                      (b + "ffn_down_shexp.weight", (fs, d), "matrix")]
            continue
        T += [(b + "ffn_norm.weight", (d,), "norm"),
              (b + "ffn_gate.weight", (d, ff), "matrix"),
              (b + "ffn_up.weight", (d, ff), "matrix"),
              (b + "ffn_down.weight", (ff, d), "matrix")]
    return T


def deepseek2_layer(p, i):
    """Layer i of a deepseek2 preset: latent attention, then a dense FFN or the experts."""
    b = "blk.%d." % i
    d, H, qk, R = p["n_embd"], p["n_head"], p["head_dim"], p["rope_dim"]
    kvr, ql, vd = p["kv_lora_rank"], p["q_lora_rank"], p["v_head_dim"]
    T = [(b + "attn_norm.weight", (d,), "norm")]
    if ql:
        T += [(b + "attn_q_a.weight", (d, ql), "matrix"), (b + "attn_q_a_norm.weight", (ql,), "norm"),
              (b + "attn_q_b.weight", (ql, H * qk), "matrix")]
    else:
        T += [(b + "attn_q.weight", (d, H * qk), "matrix")]
    T += [(b + "attn_kv_a_mqa.weight", (d, kvr + R), "matrix"), (b + "attn_kv_a_norm.weight", (kvr,), "norm"),
          (b + "attn_kv_b.weight", (kvr, H * (qk - R + vd)), "matrix"),
          (b + "attn_output.weight", (H * vd, d), "matrix"), (b + "ffn_norm.weight", (d,), "norm")]
    if i < p["lead_dense"]:
        ff = p["n_ff"]
        return T + [(b + "ffn_gate.weight", (d, ff), "matrix"), (b + "ffn_up.weight", (d, ff), "matrix"),
                    (b + "ffn_down.weight", (ff, d), "matrix")]
    E, fe, fs = p["n_expert"], p["n_ff_expert"], p["n_ff_expert"] * p["n_expert_shared"]
    T += [(b + "ffn_gate_inp.weight", (d, E), "router")]
    if p["gating"] == 2:
        T += [(b + "exp_probs_b.bias", (E,), "bias")]
    return T + [(b + "ffn_gate_exps.weight", (d, fe, E), "matrix"), (b + "ffn_up_exps.weight", (d, fe, E), "matrix"),
                (b + "ffn_down_exps.weight", (fe, d, E), "matrix"),
                (b + "ffn_gate_shexp.weight", (d, fs), "matrix"), (b + "ffn_up_shexp.weight", (d, fs), "matrix"),
                (b + "ffn_down_shexp.weight", (fs, d), "matrix")]


def deepseek2_metadata(p):
    A = "deepseek2"
    kv = [(A + ".attention.kv_lora_rank", 4, p["kv_lora_rank"]), (A + ".attention.value_length", 4, p["v_head_dim"]),
          (A + ".leading_dense_block_count", 4, p["lead_dense"]),
          (A + ".expert_feed_forward_length", 4, p["n_ff_expert"]),
          (A + ".expert_shared_count", 4, p["n_expert_shared"]),
          (A + ".expert_weights_scale", 6, p["expert_scale"]), (A + ".expert_weights_norm", 7, p["expert_norm"]),
          (A + ".expert_gating_func", 4, p["gating"])]
    if "yarn" in p:
        factor, orig, log_mul = p["yarn"]
        kv += [(A + ".rope.scaling.type", 8, "yarn"), (A + ".rope.scaling.factor", 6, factor),
               (A + ".rope.scaling.original_context_length", 4, orig),
               (A + ".rope.scaling.yarn_log_multiplier", 6, log_mul)]
    else:
        kv.append((A + ".rope.scaling.yarn_log_multiplier", 6, 0.0))
    if p["q_lora_rank"]:
        kv.append((A + ".attention.q_lora_rank", 4, p["q_lora_rank"]))
    if "expert_groups" in p:
        kv += [(A + ".expert_group_count", 4, p["expert_groups"]),
               (A + ".expert_group_used_count", 4, p["expert_groups_used"])]
    return kv


def metadata(p, name):
    A = p["arch"]
    return [("general.architecture", 8, A), ("general.name", 8, name), ("general.file_type", 4, 0),
            ("general.alignment", 4, 32),
            (A + ".context_length", 4, 256), (A + ".embedding_length", 4, p["n_embd"]),
            (A + ".block_count", 4, p["n_layer"]), (A + ".feed_forward_length", 4, p["n_ff"]),
            (A + ".attention.head_count", 4, p["n_head"]), (A + ".attention.head_count_kv", 4, p["n_head_kv"]),
            (A + ".attention.key_length", 4, p["head_dim"])] + \
        ([] if A == "deepseek2" else [(A + ".attention.value_length", 4, p["head_dim"])]) + \
        [(A + ".rope.freq_base", 6, p["theta"]), (A + ".attention.layer_norm_rms_epsilon", 6, p["eps"]),
            (A + ".rope.dimension_count", 4, p.get("rope_dim", p["head_dim"])), (A + ".vocab_size", 4, p["n_vocab"])] + \
        (deepseek2_metadata(p) if A == "deepseek2" else []) + \
        ([(A + ".attention.sliding_window", 4, p["sliding_window"])] if "sliding_window" in p else []) + \
        ([(A + ".rope.scaling.original_context_length", 4, p["longrope"]),
          (A + ".rope.scaling.attn_factor", 6,
           math.sqrt(1 + math.log(256 / p["longrope"]) / math.log(p["longrope"])) if p["longrope"] < 256 else 1.0)]
         if "longrope" in p else []) + \
        ([(A + ".attention.sliding_window_pattern", 4, p["sliding_window_pattern"])]
         if "sliding_window_pattern" in p else []) + \
        [(A + "." + k, 6, p[k]) for k in ("attn_logit_softcapping", "final_logit_softcapping") if k in p] + \
        ([(A + ".expert_count", 4, p["n_expert"]), (A + ".expert_used_count", 4, p["n_expert_used"])]
         if "n_expert" in p else []) + \
        ([(A + ".expert_feed_forward_length", 4, p["n_ff_expert"])] if "n_ff_expert" in p and A != "deepseek2"
         else []) + \
        ([(A + ".expert_shared_feed_forward_length", 4, p["n_ff_shared"])] if "n_ff_shared" in p else [])


def tensor_values(seed, name, ne, kind):
    n = 1
    for x in ne:
        n *= x
    r = synth_gguf.rng_for(seed, name)
    if kind == "norm":
        return [1.0 + r.uniform(-0.2, 0.2) for _ in range(n)]
    if kind == "bias":
        return [r.uniform(-0.1, 0.1) for _ in range(n)]
    if kind == "rope_long":  # LongRoPE divisors growing with the pair, as real ones do
        return [1.0 + 2.0 * i * r.uniform(0.5, 1.0) for i in range(n)]
    if kind == "rope_short":
        return [1.0 + 0.05 * i * r.uniform(0.5, 1.0) for i in range(n)]
    if kind == "router":  # spread routing logits, so that the top-k choice is clear-cut
        return [r.uniform(-2.0, 2.0) / math.sqrt(ne[0]) * 4 for _ in range(n)]
    spread = 1.0 if kind == "embd" else 1.2 / math.sqrt(ne[0])  # uniform: std = spread / sqrt(3)
    return [r.uniform(-spread, spread) for _ in range(n)]


QUANT = {"Q4_0": (2, synth_gguf.rand_q4_0), "Q8_0": (8, synth_gguf.rand_q8_0)}


def tensor_bytes(seed, name, ne, kind, qtype):
    """(GGML type, bytes) of one tensor: F32 values, or random blocks of qtype."""
    if qtype != "F32" and kind in ("matrix", "embd", "router") and len(ne) >= 2 and ne[0] % 32 == 0:
        type_id, gen = QUANT[qtype]
        spread = 1.0 if kind == "embd" else 1.2 / math.sqrt(ne[0])
        return type_id, bytes(gen(synth_gguf.rng_for(seed, name), math.prod(ne), spread / math.sqrt(3)))
    return 0, struct.pack("<%df" % math.prod(ne), *tensor_values(seed, name, ne, kind))


def build(preset, seed, out_path, vocab=None, layers=None, qtype="F32"):
    p = dict(PRESETS[preset])
    if layers:
        p["n_layer"] = layers
    tokenizer_kv = []
    if vocab:  # a real vocabulary (llama.cpp will not load a model without one)
        tokenizer_kv = [(k, t, v) for k, t, v in synth_gguf.read_kv(vocab) if k.startswith("tokenizer.")]
        p["n_vocab"] = len(next(v for k, t, v in tokenizer_kv if k == "tokenizer.ggml.tokens")[1])
    T = tensor_list(p)
    kv = metadata(p, "weft-synth-arch-%s-seed%d" % (preset, seed)) + tokenizer_kv
    header = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(T), len(kv)))
    for k, t, v in kv:
        header += synth_gguf.kv_entry(k, t, v)
    datas, off = [], 0
    for name, ne, kind in T:
        type_id, data = tensor_bytes(seed, name, ne, kind, qtype)
        header += synth_gguf.w_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x) for x in ne)
        header += struct.pack("<IQ", type_id, off)
        datas.append((off, data))
        off = (off + len(data) + 31) // 32 * 32
    header += b"\0" * ((-len(header)) % 32)
    tmp = out_path + ".part"
    with open(tmp, "wb") as f:
        f.write(header)
        pos = 0
        for o, data in datas:
            f.write(b"\0" * (o - pos))
            f.write(data)
            pos = o + len(data)
    os.replace(tmp, out_path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--out")
    ap.add_argument("--vocab", help="copy tokenizer.* keys from this GGUF (its size sets n_vocab)")
    ap.add_argument("--layers", type=int, help="override the preset's layer count (llama.cpp infers a model's "
                    "size from it: gemma2 needs 26, 42 or 46)")
    ap.add_argument("--type", default="F32", choices=["F32"] + sorted(QUANT))
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:  # "preset architecture" lines, of the tiny presets
        for k in sorted(set(PRESETS) - set(REAL_WIDTH)):
            print(k, PRESETS[k]["arch"])
        return
    if not a.preset or not a.out:
        ap.error("--preset and -o are required")
    build(a.preset, a.seed, a.out, a.vocab, a.layers, a.type)


if __name__ == "__main__":
    main()
