// WEFT_SCRATCH_WINDOW: debug builds check that a kernel's computed window into a scratch
// buffer or record array lies inside it; release builds compile it away. Kernels size
// each buffer from one function (e.g. Panel16Sizes in avx512/panel16_drive.h) and check
// every window they write through against that size, so a chunk or tail that outgrows
// its buffer aborts with the buffer's name instead of corrupting the heap.
//
// A macro, not a function: ISA translation units (-mavx512*) include this header, and an
// inline function with external linkage compiled there could be the copy the linker keeps
// for the rest of weft (see tests/cli/isa_isolation.sh). The failure path is an ordinary
// function in scratch_window.cc, built without ISA flags.
#pragma once

#include <cstddef>

namespace weft::kernels {
[[noreturn]] void ScratchWindowFailed(const char* file, int line, const char* what, size_t offset, size_t count,
                                      size_t size);
}  // namespace weft::kernels

#ifdef NDEBUG
// Unevaluated (sizeof), so the window's variables count as used and cost nothing.
#define WEFT_SCRATCH_WINDOW(what, offset, count, size)      \
  do {                                                      \
    (void)sizeof((what), (offset) + (count) + (size));      \
  } while (0)
#else
// [offset, offset + count) within [0, size), all in the same unit (bytes or elements).
#define WEFT_SCRATCH_WINDOW(what, offset, count, size)                                          \
  do {                                                                                          \
    const size_t weft_sw_o = (offset), weft_sw_c = (count), weft_sw_s = (size);                 \
    if (__builtin_expect(weft_sw_o > weft_sw_s || weft_sw_c > weft_sw_s - weft_sw_o, 0)) {      \
      ::weft::kernels::ScratchWindowFailed(__FILE__, __LINE__, (what), weft_sw_o, weft_sw_c, weft_sw_s); \
    }                                                                                           \
  } while (0)
#endif
