#!/usr/bin/env python3
"""Copies a GGUF file with one string metadata value added (or replaced), e.g. a chat
template for a model that has none: the tensors are copied byte for byte.

usage: gguf_add_kv.py IN.gguf OUT.gguf KEY VALUE_FILE
"""
import struct
import sys

SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def skip_value(b, pos, vtype):
    if vtype in SIZES:
        return pos + SIZES[vtype]
    if vtype == 8:
        (n,) = struct.unpack_from("<Q", b, pos)
        return pos + 8 + n
    if vtype == 9:
        etype, count = struct.unpack_from("<IQ", b, pos)
        pos += 12
        for _ in range(count):
            pos = skip_value(b, pos, etype)
        return pos
    raise ValueError("unknown GGUF value type %d" % vtype)


def read_str(b, pos):
    (n,) = struct.unpack_from("<Q", b, pos)
    return b[pos + 8:pos + 8 + n].decode(), pos + 8 + n


def string_kv(key, value):
    k, v = key.encode(), value.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<I", 8) + struct.pack("<Q", len(v)) + v


def main():
    src, dst, key, value_file = sys.argv[1:5]
    value = open(value_file, encoding="utf-8").read()
    b = open(src, "rb").read()
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", b, 0)
    assert magic == b"GGUF" and version in (2, 3), (magic, version)
    pos, kvs, alignment = 24, [], 32
    for _ in range(n_kv):
        start = pos
        name, pos = read_str(b, pos)
        (vtype,) = struct.unpack_from("<I", b, pos)
        pos = skip_value(b, pos + 4, vtype)
        if name == "general.alignment":
            (alignment,) = struct.unpack_from("<I", b, pos - 4)
        if name != key:
            kvs.append(b[start:pos])
    infos_start = pos
    for _ in range(n_tensors):
        _, pos = read_str(b, pos)
        (n_dims,) = struct.unpack_from("<I", b, pos)
        pos += 4 + 8 * n_dims + 4 + 8
    infos = b[infos_start:pos]
    data_start = (pos + alignment - 1) // alignment * alignment
    kvs.append(string_kv(key, value))
    out = struct.pack("<4sIQQ", magic, version, n_tensors, len(kvs)) + b"".join(kvs) + infos
    out += b"\0" * ((-len(out)) % alignment)
    out += b[data_start:]
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
