#!/usr/bin/env python3
"""Prints one line per tensor of a GGUF file: NAME TYPE SHA256-of-its-bytes, sorted by
name, so that two files' tensors can be compared byte for byte whatever their order and
metadata (weft quantize against llama-quantize: tests/cli/quantize_llamacpp.sh).

  gguf_tensor_hashes.py model.gguf            # all tensors
  gguf_tensor_hashes.py --combined model.gguf # one sha256 over the sorted lines
"""
import hashlib
import struct
import sys

# ggml type id -> (name, block elements, block bytes)
TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
         7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
         12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 20: ("IQ4_NL", 32, 18),
         30: ("BF16", 1, 2)}
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def skip_value(b, pos, vtype):
    if vtype in SCALAR:
        return pos + SCALAR[vtype]
    if vtype == 8:
        (n,) = struct.unpack_from("<Q", b, pos)
        return pos + 8 + n
    if vtype == 9:
        etype, n = struct.unpack_from("<IQ", b, pos)
        pos += 12
        for _ in range(n):
            pos = skip_value(b, pos, etype)
        return pos
    raise ValueError(f"unknown metadata type {vtype}")


def tensor_hashes(path):
    with open(path, "rb") as f:
        b = f.read()
    magic, version, n_tensors, n_kv = struct.unpack_from("<IIQQ", b, 0)
    if magic != 0x46554747:
        raise ValueError(f"{path}: not a GGUF file")
    pos = 24
    alignment = 32
    for _ in range(n_kv):
        (klen,) = struct.unpack_from("<Q", b, pos)
        key = b[pos + 8:pos + 8 + klen].decode()
        pos += 8 + klen
        (vtype,) = struct.unpack_from("<I", b, pos)
        pos += 4
        if key == "general.alignment":
            (alignment,) = struct.unpack_from("<I", b, pos)
        pos = skip_value(b, pos, vtype)
    infos = []
    for _ in range(n_tensors):
        (nlen,) = struct.unpack_from("<Q", b, pos)
        name = b[pos + 8:pos + 8 + nlen].decode()
        pos += 8 + nlen
        (n_dims,) = struct.unpack_from("<I", b, pos)
        ne = struct.unpack_from(f"<{n_dims}Q", b, pos + 4)
        pos += 4 + 8 * n_dims
        ttype, offset = struct.unpack_from("<IQ", b, pos)
        pos += 12
        infos.append((name, ttype, ne, offset))
    data = (pos + alignment - 1) // alignment * alignment
    out = []
    for name, ttype, ne, offset in infos:
        tname, bs, bb = TYPES[ttype]
        n = 1
        for d in ne:
            n *= d
        nbytes = n // bs * bb
        start = data + offset
        out.append((name, tname, hashlib.sha256(b[start:start + nbytes]).hexdigest()))
    return sorted(out)


def main():
    args = sys.argv[1:]
    combined = "--combined" in args
    args = [a for a in args if a != "--combined"]
    if len(args) != 1:
        sys.exit(__doc__)
    lines = [f"{n} {t} {h}" for n, t, h in tensor_hashes(args[0])]
    if combined:
        print(hashlib.sha256("\n".join(lines).encode()).hexdigest())
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
