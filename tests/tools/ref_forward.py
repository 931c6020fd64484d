#!/usr/bin/env python3
"""An independent float64 forward pass, in plain Python, for tiny F32 GGUF models.

Reads a GGUF file (F32 tensors only: the files of tests/tools/synth_arch.py), evaluates
the given token ids from position 0 and writes the logits of every position as a WGLD v2
file (../shared/golden/README.md), the format `weft logits` writes. It shares no code
with weft: the reference for architectures ../shared/golden has no logits for.

K and V are rounded to F16 before they are used, as weft's (and llama.cpp's) default F16
KV cache stores them (--kv f32 keeps them exact).

  ref_forward.py model.gguf --tokens ids.txt --out ref.logits

Architectures: llama (interleaved rope pairs, GGUF's llama layout; with
llama.attention.sliding_window, Mistral's window in every layer), qwen2 (q/k/v biases,
NeoX rope), qwen3 (per-head q/k RMSNorm before rope, NeoX rope), gemma2 (embeddings x
sqrt(n_embd), GeGLU, post-attention/post-FFN norms, local/global layers, soft-capped
scores and logits), gemma3 (gemma2 without soft-caps, with q/k norms and the local
layers' rope base); mixtures of experts: llama with llama.expert_count (Mixtral: softmax
router, top k renormalised), qwen2moe (qwen2 with top k not renormalised plus a shared
expert scaled by sigmoid(x . gate)), qwen3moe (qwen3 with top k renormalised), olmoe
(RMSNorm over the whole q and k projections, top k not renormalised); deepseek2
(DeepSeek-V2/V3: multi-head latent attention evaluated in its expanded form, per-head
keys [W_UK c | rope(k_pe)] and values W_UV c rounded to F16 as llama.cpp caches them;
dense leading layers; softmax or sigmoid routing with DeepSeek-V3's selection bias and
group-limited choice, weights scaled, shared experts ungated); phi3 (llama's pass with q/k/v
fused in attn_qkv and gate/up in ffn_up, NeoX rope, Mistral's window).
"""
import argparse
import math
import operator
import struct

SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read_gguf(path):
    """(metadata dict, {name: (ne tuple, list of floats)}) of an F32 GGUF file."""
    with open(path, "rb") as f:
        b = f.read()
    o = 0

    def take(fmt):
        nonlocal o
        v = struct.unpack_from("<" + fmt, b, o)
        o += struct.calcsize("<" + fmt)
        return v[0]

    def value(t):
        nonlocal o
        if t in SCALAR:
            return take(SCALAR[t])
        if t == 8:
            n = take("Q")
            s = b[o:o + n].decode("utf-8", "surrogatepass")
            o += n
            return s
        et, n = take("I"), take("Q")
        return [value(et) for _ in range(n)]

    assert b[:4] == b"GGUF", path
    o = 4
    take("I")
    n_tensors, n_kv = take("Q"), take("Q")
    meta = {}
    for _ in range(n_kv):
        n = take("Q")
        key = b[o:o + n].decode()
        o += n
        meta[key] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        n = take("Q")
        name = b[o:o + n].decode()
        o += n
        ne = tuple(take("Q") for _ in range(take("I")))
        ttype, off = take("I"), take("Q")
        assert ttype == 0, "%s: only F32 tensors are supported (type %d)" % (name, ttype)
        infos.append((name, ne, off))
    align = meta.get("general.alignment", 32)
    base = (o + align - 1) // align * align
    tensors = {}
    for name, ne, off in infos:
        n = 1
        for x in ne:
            n *= x
        tensors[name] = (ne, list(struct.unpack_from("<%df" % n, b, base + off)))
    return meta, tensors


def f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]


def rmsnorm(x, w, eps):
    s = 1.0 / math.sqrt(sum(v * v for v in x) / len(x) + eps)
    return [v * s * g for v, g in zip(x, w)]


def matvec(t, x):
    """y = W x for a GGUF matrix t = (ne, data) with ne = (in, out)."""
    (n_in, n_out), data = t
    assert len(x) == n_in
    # The same left-to-right float64 sums as a loop over j, without its indexing.
    return [sum(map(operator.mul, data[r * n_in:(r + 1) * n_in], x)) for r in range(n_out)]


def rope(v, pos, theta, rope_dim, neox, yarn=None, divisors=None, mag=1.0):
    """yarn = (factor, original context, beta_fast, beta_slow): YaRN's blend of interpolated
    and original frequencies per pair, at unit magnitude (DeepSeek scales the scores).
    divisors: per pair, the angle is divided by it (LongRoPE's factors); mag multiplies
    cos and sin (LongRoPE's attention factor)."""
    v = list(v)
    half = rope_dim // 2
    for i in range(half):
        angle = pos * theta ** (-2.0 * i / rope_dim)
        if divisors:
            angle /= divisors[i]
        if yarn:
            factor, orig, beta_fast, beta_slow = yarn
            corr = lambda beta: rope_dim * math.log(orig / (beta * 2 * math.pi)) / (2 * math.log(theta))
            low, high = max(0, math.floor(corr(beta_fast))), min(rope_dim - 1, math.ceil(corr(beta_slow)))
            ramp = 1 - min(1.0, max(0.0, (i - low) / max(0.001, high - low)))
            angle = angle / factor * (1 - ramp) + angle * ramp
        c, s = mag * math.cos(angle), mag * math.sin(angle)
        a, b = (i, i + half) if neox else (2 * i, 2 * i + 1)
        v[a], v[b] = v[a] * c - v[b] * s, v[a] * s + v[b] * c
    return v


def gelu_tanh(g):
    return 0.5 * g * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (g + 0.044715 * g ** 3)))


def silu(g):
    return g / (1.0 + math.exp(-g))


def expert_slice(t, e):
    """Expert e's matrix of a GGUF 3-D experts tensor (ne = (in, out, n_expert))."""
    (n_in, n_out, _), data = t
    return (n_in, n_out), data[e * n_in * n_out:(e + 1) * n_in * n_out]


def moe_ffn(W, p, h, n_used, renorm, sigmoid=False, scale=1.0, groups=0, groups_used=0):
    """The mixture-of-experts FFN of layer prefix p on the normed input h."""
    logits = matvec(W[p + "ffn_gate_inp.weight"], h)
    if sigmoid:
        probs = [1.0 / (1.0 + math.exp(-v)) for v in logits]
    else:
        m = max(logits)
        e = [math.exp(v - m) for v in logits]
        probs = [v / sum(e) for v in e]
    sel = list(probs)
    if p + "exp_probs_b.bias" in W:  # DeepSeek-V3: for the choice only
        sel = [a + b for a, b in zip(sel, W[p + "exp_probs_b.bias"][1])]
    eligible = range(len(sel))
    if groups > 1:  # group-limited: a group scores its best expert (softmax) or best two (sigmoid)
        n = len(sel) // groups
        score = [sum(sorted(sel[g * n:(g + 1) * n], reverse=True)[:2 if sigmoid else 1]) for g in range(groups)]
        best = sorted(range(groups), key=lambda g: (-score[g], g))[:groups_used]
        eligible = [i for i in range(len(sel)) if i // n in best]
    chosen = sorted(eligible, key=lambda i: (-sel[i], i))[:n_used]
    w = [probs[i] for i in chosen]
    if renorm:
        w = [v / sum(w) for v in w]
    w = [v * scale for v in w]
    out = [0.0] * len(h)
    for ex, wt in zip(chosen, w):
        gate = matvec(expert_slice(W[p + "ffn_gate_exps.weight"], ex), h)
        up = matvec(expert_slice(W[p + "ffn_up_exps.weight"], ex), h)
        f = matvec(expert_slice(W[p + "ffn_down_exps.weight"], ex), [silu(g) * u for g, u in zip(gate, up)])
        out = [a + wt * b for a, b in zip(out, f)]
    if p + "ffn_gate_shexp.weight" in W:
        gate, up = matvec(W[p + "ffn_gate_shexp.weight"], h), matvec(W[p + "ffn_up_shexp.weight"], h)
        f = matvec(W[p + "ffn_down_shexp.weight"], [silu(g) * u for g, u in zip(gate, up)])
        s = 1.0
        if p + "ffn_gate_inp_shexp.weight" in W:
            s = 1.0 / (1.0 + math.exp(-sum(a * b for a, b in zip(h, W[p + "ffn_gate_inp_shexp.weight"][1]))))
        out = [a + s * b for a, b in zip(out, f)]
    return out


def latent_attention(meta, W, p, h, pos, K, Vc, rnd):
    """DeepSeek's multi-head latent attention of layer prefix p at position pos, expanded
    per head as llama.cpp does; appends this position's keys and values to K, Vc."""
    g = lambda k, d=None: meta.get("deepseek2." + k, d)
    H, qk, R = g("attention.head_count"), g("attention.key_length"), g("rope.dimension_count")
    kvr, vd, eps, theta = g("attention.kv_lora_rank"), g("attention.value_length"), \
        g("attention.layer_norm_rms_epsilon"), g("rope.freq_base", 10000.0)
    nope = qk - R
    yarn, mscale = None, 1.0
    if g("rope.scaling.type") == "yarn":
        factor = g("rope.scaling.factor")
        yarn = (factor, g("rope.scaling.original_context_length"), g("rope.scaling.yarn_beta_fast", 32.0),
                g("rope.scaling.yarn_beta_slow", 1.0))
        mscale = g("rope.scaling.attn_factor", 1.0) * (1 + g("rope.scaling.yarn_log_multiplier") * math.log(factor))
    if p + "attn_q_a.weight" in W:
        q = matvec(W[p + "attn_q_b.weight"], rmsnorm(matvec(W[p + "attn_q_a.weight"], h),
                                                      W[p + "attn_q_a_norm.weight"][1], eps))
    else:
        q = matvec(W[p + "attn_q.weight"], h)
    kv = matvec(W[p + "attn_kv_a_mqa.weight"], h)
    c = rmsnorm(kv[:kvr], W[p + "attn_kv_a_norm.weight"][1], eps)
    k_pe = rope(kv[kvr:], pos, theta, R, False, yarn)
    up = matvec(W[p + "attn_kv_b.weight"], c)  # per head: k_nope, then v
    keys, vals, heads_q = [], [], []
    for i in range(H):
        base = i * (nope + vd)
        keys.append([rnd(v) for v in up[base:base + nope] + k_pe])
        vals.append([rnd(v) for v in up[base + nope:base + nope + vd]])
        qh = q[i * qk:(i + 1) * qk]
        heads_q.append(qh[:nope] + rope(qh[nope:], pos, theta, R, False, yarn))
    K.append(keys)
    Vc.append(vals)
    scale = mscale * mscale / math.sqrt(qk)
    att = []
    for i in range(H):
        scores = [sum(a * b for a, b in zip(heads_q[i], K[t][i])) * scale for t in range(pos + 1)]
        m = max(scores)
        e = [math.exp(s - m) for s in scores]
        z = sum(e)
        att += [sum(e[t] / z * Vc[t][i][j] for t in range(pos + 1)) for j in range(vd)]
    return matvec(W[p + "attn_output.weight"], att)


def forward(meta, W, ids, kv_f16):
    A = meta["general.architecture"]
    assert A in ("llama", "qwen2", "qwen3", "gemma2", "gemma3", "qwen2moe", "qwen3moe", "olmoe", "deepseek2",
                 "phi3"), \
        "architecture %s: no reference pass here" % A
    gemma = A.startswith("gemma")
    g = lambda k, d=None: meta.get(A + "." + k, d)
    d, L, H = g("embedding_length"), g("block_count"), g("attention.head_count")
    Hkv = g("attention.head_count_kv", H)
    hd = g("attention.key_length", d // H)
    eps, theta = g("attention.layer_norm_rms_epsilon"), g("rope.freq_base", 10000.0)
    rope_dim = g("rope.dimension_count", hd)
    window = g("attention.sliding_window", 0)  # 0: none
    # Layers with the window: all (Mistral), every other from layer 0 (Gemma 2), five in
    # six (Gemma 3), unless the file gives the pattern.
    pattern = g("attention.sliding_window_pattern", {"gemma2": 2, "gemma3": 6}.get(A, 1))
    layer_window = lambda l: window if window > 0 and (pattern <= 1 or (l + 1) % pattern != 0) else 0
    theta_local = g("rope.freq_base_swa", 10000.0) if A == "gemma3" else theta
    attn_cap, final_cap = g("attn_logit_softcapping", 0.0), g("final_logit_softcapping", 0.0)
    scale = 1.0 / math.sqrt(hd)  # Gemma: query_pre_attn_scalar = head_dim at these shapes
    act_fn = gelu_tanh if gemma else silu
    neox = A in ("qwen2", "qwen3", "gemma2", "gemma3", "qwen2moe", "qwen3moe", "olmoe", "phi3")
    # LongRoPE (Phi-3-128k, Phi-3.5): the long divisors when the model's context exceeds
    # the original one, else the short ones; cos and sin times the attention factor.
    divisors, mag = None, 1.0
    if "rope_factors_long.weight" in W:
        long_ = g("context_length") > g("rope.scaling.original_context_length")
        divisors = W["rope_factors_long.weight" if long_ else "rope_factors_short.weight"][1]
        mag = g("rope.scaling.attn_factor", 1.0)
    n_used = g("expert_used_count", 0)
    (_, V), emb = W["token_embd.weight"]
    out = W.get("output.weight", W["token_embd.weight"])
    rnd = f16 if kv_f16 else (lambda x: x)
    K = [[] for _ in range(L)]  # per layer, per position: [Hkv * hd]
    Vc = [[] for _ in range(L)]
    logits = []
    for pos, tok in enumerate(ids):
        x = emb[tok * d:(tok + 1) * d]
        if gemma:
            x = [v * math.sqrt(d) for v in x]
        for l in range(L):
            p = "blk.%d." % l
            lw = layer_window(l)
            lt = theta_local if lw > 0 else theta
            h = rmsnorm(x, W[p + "attn_norm.weight"][1], eps)
            if A == "deepseek2":
                o = latent_attention(meta, W, p, h, pos, K[l], Vc[l], rnd)
                x = [a + b for a, b in zip(x, o)]
                h = rmsnorm(x, W[p + "ffn_norm.weight"][1], eps)
                if p + "ffn_gate_inp.weight" in W:
                    f = moe_ffn(W, p, h, n_used, g("expert_weights_norm", False), g("expert_gating_func", 1) == 2,
                                g("expert_weights_scale", 1.0), g("expert_group_count", 0),
                                g("expert_group_used_count", 0))
                else:
                    gate, up = matvec(W[p + "ffn_gate.weight"], h), matvec(W[p + "ffn_up.weight"], h)
                    f = matvec(W[p + "ffn_down.weight"], [silu(gg) * u for gg, u in zip(gate, up)])
                x = [a + b for a, b in zip(x, f)]
                continue
            if p + "attn_qkv.weight" in W:  # Phi-3: q | k | v by rows
                qkv = matvec(W[p + "attn_qkv.weight"], h)
                q, k, v = qkv[:H * hd], qkv[H * hd:(H + Hkv) * hd], qkv[(H + Hkv) * hd:]
            else:
                q, k, v = (matvec(W[p + n + ".weight"], h) for n in ("attn_q", "attn_k", "attn_v"))
            if p + "attn_q.bias" in W:
                q = [a + b for a, b in zip(q, W[p + "attn_q.bias"][1])]
                k = [a + b for a, b in zip(k, W[p + "attn_k.bias"][1])]
                v = [a + b for a, b in zip(v, W[p + "attn_v.bias"][1])]
            if A == "olmoe":  # the whole projections, before the split into heads
                q = rmsnorm(q, W[p + "attn_q_norm.weight"][1], eps)
                k = rmsnorm(k, W[p + "attn_k_norm.weight"][1], eps)
            heads_q = [q[i * hd:(i + 1) * hd] for i in range(H)]
            heads_k = [k[i * hd:(i + 1) * hd] for i in range(Hkv)]
            if p + "attn_q_norm.weight" in W and A != "olmoe":
                heads_q = [rmsnorm(t, W[p + "attn_q_norm.weight"][1], eps) for t in heads_q]
                heads_k = [rmsnorm(t, W[p + "attn_k_norm.weight"][1], eps) for t in heads_k]
            heads_q = [rope(t, pos, lt, rope_dim, neox, None, divisors, mag) for t in heads_q]
            heads_k = [rope(t, pos, lt, rope_dim, neox, None, divisors, mag) for t in heads_k]
            K[l].append([rnd(x_) for t in heads_k for x_ in t])
            Vc[l].append([rnd(x_) for x_ in v])
            att = []
            for i in range(H):
                kh = i // (H // Hkv)
                first = max(0, pos - lw + 1) if lw > 0 else 0
                seen = range(first, pos + 1)
                scores = [sum(a * b for a, b in zip(heads_q[i], K[l][t][kh * hd:(kh + 1) * hd])) * scale
                          for t in seen]
                if attn_cap > 0:
                    scores = [attn_cap * math.tanh(s / attn_cap) for s in scores]
                m = max(scores)
                e = [math.exp(s - m) for s in scores]
                z = sum(e)
                att += [sum(e[n] / z * Vc[l][t][kh * hd + j] for n, t in enumerate(seen)) for j in range(hd)]
            o = matvec(W[p + "attn_output.weight"], att)
            if gemma:
                o = rmsnorm(o, W[p + "post_attention_norm.weight"][1], eps)
            x = [a + b for a, b in zip(x, o)]
            h = rmsnorm(x, W[p + "ffn_norm.weight"][1], eps)
            if n_used:
                f = moe_ffn(W, p, h, n_used, A not in ("qwen2moe", "olmoe"))
            elif p + "ffn_gate.weight" not in W:  # Phi-3: gate | up by rows
                gu = matvec(W[p + "ffn_up.weight"], h)
                gate, up = gu[:len(gu) // 2], gu[len(gu) // 2:]
                f = matvec(W[p + "ffn_down.weight"], [act_fn(gg) * u for gg, u in zip(gate, up)])
            else:
                gate, up = matvec(W[p + "ffn_gate.weight"], h), matvec(W[p + "ffn_up.weight"], h)
                f = matvec(W[p + "ffn_down.weight"], [act_fn(gg) * u for gg, u in zip(gate, up)])
            if gemma:
                f = rmsnorm(f, W[p + "post_ffw_norm.weight"][1], eps)
            x = [a + b for a, b in zip(x, f)]
        row = matvec(out, rmsnorm(x, W["output_norm.weight"][1], eps))
        if final_cap > 0:
            row = [final_cap * math.tanh(v / final_cap) for v in row]
        logits.append(row)
    return V, logits


def write_logits(path, n_vocab, ids, logits):
    with open(path, "wb") as f:
        f.write(struct.pack("<5I", 0x444C4757, 2, n_vocab, len(ids), len(ids)))
        f.write(struct.pack("<%dI" % len(ids), *ids))
        f.write(struct.pack("<%dI" % len(ids), *range(len(ids))))
        for row in logits:
            f.write(struct.pack("<%df" % n_vocab, *row))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--tokens", required=True, help="file of whitespace-separated token ids")
    ap.add_argument("--out", required=True)
    ap.add_argument("--kv", choices=["f16", "f32"], default="f16")
    a = ap.parse_args()
    ids = [int(t) for t in open(a.tokens).read().split()]
    meta, W = read_gguf(a.model)
    n_vocab, logits = forward(meta, W, ids, a.kv == "f16")
    write_logits(a.out, n_vocab, ids, logits)


if __name__ == "__main__":
    main()
