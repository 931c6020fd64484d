#!/usr/bin/env python3
"""../shared/tools/synth_gguf.py with extra presets: real model widths, few layers.

The engine's real-width tests (batches of 1..64 under ASan/UBSan) need the widths that
overflowed kernels in the field (2048 / 8192, 896 / 4864 with a 151k... vocabulary) but
not the 16-24 layers that would make a sanitizer run take an hour. Each extra preset is a
shared preset with n_layer replaced; everything else (weights, tokenizer, file layout) is
the shared generator's, so the same arguments give a byte-identical file.

  synth_real_width.py --preset l1b2 --type Q4_0 -o l1b2-q4_0.gguf

Architectures the shared generator has no layout for come from tests/tools/synth_arch.py
(ARCH_PRESETS, with the llama SPM vocabulary): e.g. dsv2lite2, DeepSeek-V2-Lite's widths.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "shared", "tools"))
import synth_gguf  # noqa: E402

# name: (shared preset, layers)
EXTRA = {
    "l1b2": ("l1b", 2),    # Llama 3.2 1B / TinyLlama widths: 2048, 32/8 heads, ffn 8192
    "q05b2": ("q05b", 2),  # Qwen2.5 0.5B widths: 896, 14/2 heads, ffn 4864, tied head
    "mixs2": ("mixs", 2),  # Mixtral-shaped: 1024, 16/8 heads, 8 experts (top 2) of ffn 2816
}

for name, (base, layers) in EXTRA.items():
    p = list(synth_gguf.PRESETS[base])
    p[2] = layers  # (arch, n_embd, n_layer, ...)
    synth_gguf.PRESETS[name] = tuple(p)
    if base in synth_gguf.MOE:
        synth_gguf.MOE[name] = synth_gguf.MOE[base]

ARCH_PRESETS = {"dsv2lite2", "dsv2q2", "q2moe2", "phi3mini2", "deepseek2"}  # tiny deepseek2: expert_cache_test  # synth_arch.py presets


def main():
    args = sys.argv[1:]
    if "--preset" in args and args[args.index("--preset") + 1] in ARCH_PRESETS:
        sys.path.insert(0, HERE)
        import synth_arch  # noqa: E402
        get = lambda flag, default=None: args[args.index(flag) + 1] if flag in args else default
        vocab = os.path.join(HERE, "..", "..", "..", "shared", "models", "vocab", "ggml-vocab-llama-spm.gguf")
        synth_arch.build(get("--preset"), int(get("--seed", "1")), get("-o"), vocab=vocab, qtype=get("--type", "Q4_0"))
        return
    synth_gguf.main()


if __name__ == "__main__":
    main()
