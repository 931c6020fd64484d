#!/usr/bin/env python3
"""Writes a tiny F32 GGUF model of tests/tools/synth_arch.py as a Hugging Face directory
(config.json + model.safetensors), the way the HF checkpoint of that model would look, so
that weft's safetensors loader is held to the same float64 reference as the GGUF file.

What changes on the way (the inverse of what converters to GGUF do):
  names      GGUF -> transformers (Gemma's sandwich norms have their own names);
  llama q/k  GGUF's interleaved rope rows -> HF's rotate-half rows (mistral too);
  Gemma      norm weights w -> w - 1 (HF stores w and multiplies by 1 + w);
  experts    GGUF's 3-D ffn_*_exps -> one matrix per expert (Mixtral's w1/w3/w2 under
             block_sparse_moe, Qwen-MoE's mlp.experts.E.*_proj), the shared expert's gate
             [n_embd] -> a [1, n_embd] linear layer;
  DeepSeek   latent attention's q_a/q_b/kv_a/kv_b projections and norms by their HF
             names, no q/k permutation (its rope de-interleaves inside the model), shared
             experts under mlp.shared_experts, the selection bias as
             mlp.gate.e_score_correction_bias, config keys of deepseek_v2 / deepseek_v3.

  gguf_to_hf.py model.gguf OUT_DIR
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ref_forward  # noqa: E402  (read_gguf)

LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight", "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight", "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias", "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_q_norm.weight": "self_attn.q_norm.weight", "attn_k_norm.weight": "self_attn.k_norm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
    "attn_q_a.weight": "self_attn.q_a_proj.weight", "attn_q_a_norm.weight": "self_attn.q_a_layernorm.weight",
    "attn_q_b.weight": "self_attn.q_b_proj.weight", "attn_kv_a_mqa.weight": "self_attn.kv_a_proj_with_mqa.weight",
    "attn_kv_a_norm.weight": "self_attn.kv_a_layernorm.weight", "attn_kv_b.weight": "self_attn.kv_b_proj.weight",
    "attn_qkv.weight": "self_attn.qkv_proj.weight",
}
GEMMA_NORMS = {"post_attention_norm.weight": "post_attention_layernorm.weight",
               "ffn_norm.weight": "pre_feedforward_layernorm.weight",
               "post_ffw_norm.weight": "post_feedforward_layernorm.weight"}


MOE_NAMES = {  # (Mixtral, Qwen-MoE)
    "ffn_gate_inp.weight": ("block_sparse_moe.gate.weight", "mlp.gate.weight"),
    "ffn_gate_shexp.weight": (None, "mlp.shared_expert.gate_proj.weight"),
    "ffn_up_shexp.weight": (None, "mlp.shared_expert.up_proj.weight"),
    "ffn_down_shexp.weight": (None, "mlp.shared_expert.down_proj.weight"),
    "ffn_gate_inp_shexp.weight": (None, "mlp.shared_expert_gate.weight"),
}
DEEPSEEK_MOE_NAMES = {"ffn_gate_shexp.weight": "mlp.shared_experts.gate_proj.weight",
                      "ffn_up_shexp.weight": "mlp.shared_experts.up_proj.weight",
                      "ffn_down_shexp.weight": "mlp.shared_experts.down_proj.weight",
                      "exp_probs_b.bias": "mlp.gate.e_score_correction_bias"}
EXPERT_ROLES = {"ffn_gate_exps.weight": ("w1", "gate_proj"), "ffn_up_exps.weight": ("w3", "up_proj"),
                "ffn_down_exps.weight": ("w2", "down_proj")}


def expert_tensors(name, ne, data, mixtral, deepseek=False):
    """[(hf name, ne, data)] for one GGUF tensor of a mixture-of-experts layer."""
    _, layer, rest = name.split(".", 2)
    base = "model.layers.%s." % layer
    if deepseek and rest in DEEPSEEK_MOE_NAMES:
        return [(base + DEEPSEEK_MOE_NAMES[rest], ne, data)]
    if rest in EXPERT_ROLES:
        n_in, n_out, E = ne
        role = EXPERT_ROLES[rest][0 if mixtral else 1]
        prefix = "block_sparse_moe.experts." if mixtral else "mlp.experts."
        size = n_in * n_out
        return [(base + "%s%d.%s.weight" % (prefix, e, role), (n_in, n_out), data[e * size:(e + 1) * size])
                for e in range(E)]
    if rest == "ffn_gate_inp_shexp.weight":
        return [(base + MOE_NAMES[rest][1], (ne[0], 1), data)]
    return [(base + MOE_NAMES[rest][0 if mixtral else 1], ne, data)]


def hf_name(name, gemma, phi3=False):
    if name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if name == "output_norm.weight":
        return "model.norm.weight"
    if name == "output.weight":
        return "lm_head.weight"
    _, layer, rest = name.split(".", 2)
    if phi3 and rest == "ffn_up.weight":
        return "model.layers.%s.mlp.gate_up_proj.weight" % layer
    table = dict(LAYER_NAMES, **GEMMA_NORMS) if gemma else LAYER_NAMES
    return "model.layers.%s.%s" % (layer, table[rest])


def uninterleave(data, ne, head_dim):
    """GGUF llama q/k rows (pairs 2i, 2i+1 per head) -> HF rows (i, i + head_dim/2)."""
    row = ne[0] if len(ne) == 2 else 1
    rows = ne[1] if len(ne) == 2 else ne[0]
    half = head_dim // 2
    out = [0.0] * len(data)
    for h in range(rows // head_dim):
        for i in range(half):
            for j in range(2):
                src, dst = h * head_dim + 2 * i + j, h * head_dim + j * half + i
                out[dst * row:(dst + 1) * row] = data[src * row:(src + 1) * row]
    return out


def config_json(meta, W):
    A = meta["general.architecture"]
    g = lambda k, d=None: meta.get(A + "." + k, d)
    window = g("attention.sliding_window", 0)
    c = {"vocab_size": g("vocab_size"), "hidden_size": g("embedding_length"),
         "intermediate_size": g("feed_forward_length"), "num_hidden_layers": g("block_count"),
         "num_attention_heads": g("attention.head_count"), "num_key_value_heads": g("attention.head_count_kv"),
         "head_dim": g("attention.key_length"), "max_position_embeddings": g("context_length"),
         "rms_norm_eps": g("attention.layer_norm_rms_epsilon"), "rope_theta": g("rope.freq_base"),
         "torch_dtype": "float32"}
    if A == "llama" and g("expert_count"):
        c.update(model_type="mixtral", hidden_act="silu", sliding_window=window or None,
                 num_local_experts=g("expert_count"), num_experts_per_tok=g("expert_used_count"))
    elif A in ("qwen2moe", "qwen3moe"):
        c.update(model_type=A.replace("moe", "_moe"), hidden_act="silu", use_sliding_window=False,
                 num_experts=g("expert_count"), num_experts_per_tok=g("expert_used_count"),
                 moe_intermediate_size=g("expert_feed_forward_length"), norm_topk_prob=A == "qwen3moe",
                 decoder_sparse_step=1, mlp_only_layers=[])
        if g("expert_shared_feed_forward_length"):
            c["shared_expert_intermediate_size"] = g("expert_shared_feed_forward_length")
    elif A == "olmoe":
        c.update(model_type="olmoe", hidden_act="silu", num_experts=g("expert_count"),
                 num_experts_per_tok=g("expert_used_count"), norm_topk_prob=False, clip_qkv=None)
    elif A == "deepseek2":
        groups = g("expert_group_count", 0)
        sigmoid = g("expert_gating_func", 1) == 2
        c.update(model_type="deepseek_v3" if sigmoid else "deepseek_v2", hidden_act="silu",
                 q_lora_rank=g("attention.q_lora_rank"), kv_lora_rank=g("attention.kv_lora_rank"),
                 qk_rope_head_dim=g("rope.dimension_count"), v_head_dim=g("attention.value_length"),
                 qk_nope_head_dim=g("attention.key_length") - g("rope.dimension_count"),
                 n_routed_experts=g("expert_count"), num_experts_per_tok=g("expert_used_count"),
                 moe_intermediate_size=g("expert_feed_forward_length"), n_shared_experts=g("expert_shared_count"),
                 first_k_dense_replace=g("leading_dense_block_count"), moe_layer_freq=1,
                 routed_scaling_factor=g("expert_weights_scale"), norm_topk_prob=g("expert_weights_norm"),
                 scoring_func="sigmoid" if sigmoid else "softmax",
                 topk_method=("noaux_tc" if sigmoid else "group_limited_greedy") if groups else "greedy",
                 n_group=groups or 1, topk_group=g("expert_group_used_count", 1), attention_bias=False)
        del c["head_dim"]
        if g("rope.scaling.type") == "yarn":  # GGUF's yarn_log_multiplier is 0.1 x mscale_all_dim
            mscale = g("rope.scaling.yarn_log_multiplier") / 0.1
            c["rope_scaling"] = {"type": "yarn", "factor": g("rope.scaling.factor"),
                                 "original_max_position_embeddings": g("rope.scaling.original_context_length"),
                                 "beta_fast": 32, "beta_slow": 1, "mscale": mscale, "mscale_all_dim": mscale}
    elif A == "phi3":
        c.update(model_type="phi3", hidden_act="silu", sliding_window=window or None)
        if g("rope.dimension_count") != c["head_dim"]:  # Phi-4-mini's partial rotary
            c["partial_rotary_factor"] = g("rope.dimension_count") / c["head_dim"]
        if "rope_factors_long.weight" in W:  # LongRoPE, as Phi-3.5's config.json
            c["original_max_position_embeddings"] = g("rope.scaling.original_context_length")
            c["rope_scaling"] = {"type": "longrope", "long_factor": W["rope_factors_long.weight"][1],
                                 "short_factor": W["rope_factors_short.weight"][1]}
    elif A == "llama":
        c.update(model_type="mistral" if window else "llama", hidden_act="silu", sliding_window=window or None)
    elif A in ("qwen2", "qwen3"):
        c.update(model_type=A, hidden_act="silu", use_sliding_window=False)
    elif A == "gemma2":
        c.update(model_type="gemma2", hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=c["head_dim"],
                 attn_logit_softcapping=g("attn_logit_softcapping"),
                 final_logit_softcapping=g("final_logit_softcapping"), sliding_window=window)
    elif A == "gemma3":
        c.update(model_type="gemma3_text", hidden_activation="gelu_pytorch_tanh",
                 query_pre_attn_scalar=c["head_dim"], sliding_window=window,
                 sliding_window_pattern=g("attention.sliding_window_pattern", 6),
                 rope_local_base_freq=g("rope.freq_base_swa", 10000.0),
                 attn_logit_softcapping=None, final_logit_softcapping=None)
    else:
        sys.exit("%s: no HF layout for architecture %s" % (A, A))
    return c


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    meta, W = ref_forward.read_gguf(sys.argv[1])
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    A = meta["general.architecture"]
    gemma = A.startswith("gemma")
    cfg = config_json(meta, W)
    cfg["tie_word_embeddings"] = "output.weight" not in W
    head_dim = cfg.get("head_dim")
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (ne, data) in W.items():
        if name.startswith("rope_factors_"):  # LongRoPE: in config.json's rope_scaling
            continue
        if A == "llama" and name.split(".")[-2] in ("attn_q", "attn_k"):
            data = uninterleave(data, ne, head_dim)
        if gemma and name.endswith("norm.weight"):
            data = [v - 1.0 for v in data]
        deepseek = A == "deepseek2"
        moe_names = dict(MOE_NAMES, **EXPERT_ROLES, **(DEEPSEEK_MOE_NAMES if deepseek else {}))
        moe = name.startswith("blk.") and name.split(".", 2)[2] in moe_names
        for hf, hne, hdata in (expert_tensors(name, ne, data, A == "llama", deepseek) if moe else
                               [(hf_name(name, gemma, A == "phi3"), ne, data)]):
            blob = struct.pack("<%df" % len(hdata), *hdata)
            header[hf] = {"dtype": "F32", "shape": list(reversed(hne)), "data_offsets": [off, off + len(blob)]}
            blobs.append(blob)
            off += len(blob)
    head = json.dumps(header).encode()
    head += b" " * ((-len(head)) % 8)
    with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for blob in blobs:
            f.write(blob)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


if __name__ == "__main__":
    main()
