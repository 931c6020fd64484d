// WEFT_ISA_CLONES: compiles a function for AVX-512, AVX2 and baseline x86-64 and picks
// one when the program loads (GCC function multiversioning: an ifunc). For loops whose
// result must not depend on the ISA (fixed summation order, the file compiled with
// -ffp-contract=off), so any clone gives the same bits.
// ThreadSanitizer builds get the baseline only: an ifunc resolver runs during relocation,
// before TSan's runtime starts, and the instrumented resolver crashes the program.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define WEFT_ISA_CLONES
#else
#define WEFT_ISA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
