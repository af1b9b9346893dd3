#include "phasegen/core/runtime.hpp"

#include <cstdlib>  // defines __GLIBC__ where the C library is glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace phasegen {

bool retain_freed_memory() {
#if defined(__GLIBC__)
  constexpr int kMmapThreshold = 32 << 20;  // glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
  constexpr int kTrimThreshold = 1 << 30;
  // Both: a trim threshold alone switches glibc's adaptive mmap threshold off and leaves it at
  // 128 KiB, so that every buffer would be mapped and unmapped (slower than the default).
  const bool mmap_set = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1;
  const bool trim_set = mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
  return mmap_set && trim_set;
#else
  return false;
#endif
}

bool prefer_avx512_kernels() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  if (std::getenv("ATEN_CPU_CAPABILITY") != nullptr) return false;
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("fma");
  return avx512 && setenv("ATEN_CPU_CAPABILITY", "avx512", 0) == 0;
#else
  return false;
#endif
}

void configure_cpu_runtime() {
  retain_freed_memory();
  prefer_avx512_kernels();
}

}  // namespace phasegen
