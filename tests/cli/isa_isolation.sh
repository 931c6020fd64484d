#!/usr/bin/env bash
# Only the ISA kernel translation units (namespaces weft::kernels::avx2 / ::avx512, built
# with -mavx2 / -mavx512*) may hold AVX or AVX-512 instructions. A template they
# instantiate (a std::vector resize, a std::fill) is a weak symbol the linker may keep
# from any TU: if it kept the AVX-512 copy, code outside the kernels would crash with an
# illegal instruction on a CPU without AVX-512. This test reads the binary's disassembly
# and names every function outside those namespaces that touches a ymm/zmm register.
# usage: isa_isolation.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 work=$3
mkdir -p "$work"
command -v objdump > /dev/null || { echo "SKIP: objdump not found"; exit 77; }
objdump -d --no-show-raw-insn -C "$weft" > "$work/weft.dis"
awk '
  /^[0-9a-f]+ <.*>:$/ { fn = $0; next }
  /%[yz]mm[0-9]/ { if (!(fn in seen)) { seen[fn] = 1; print fn } }
' "$work/weft.dis" > "$work/vector_functions.txt"
total=$(wc -l < "$work/vector_functions.txt")
[ "$total" -gt 0 ] || { echo "FAIL: no vector code found at all (is the disassembly right?)"; exit 1; }
# Exempt: functions whose name mentions an ISA namespace (in one, or a template over an
# ISA's types) or an anonymous namespace (internal linkage: no other TU can share the
# copy; an unoptimised build leaves such helpers out of line). What must not be here:
# external code over shared types (std::vector<float>, std::fill<float*>, weft::...).
grep -v -E 'weft::kernels::(avx2|avx512)::|\(anonymous namespace\)' "$work/vector_functions.txt" \
  > "$work/outside.txt" || true
if [ -s "$work/outside.txt" ]; then
  echo "FAIL: vector instructions outside the ISA kernels:"
  cut -c1-300 "$work/outside.txt"
  exit 1
fi
echo "ok: $total functions use ymm/zmm, all in the ISA kernels"
