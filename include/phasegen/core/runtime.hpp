// Process-wide settings of the CPU runtime under LibTorch, made once at the start of a program.
#pragma once

namespace phasegen {

/// Keeps freed tensor buffers in the process instead of handing them back to the system.
///
/// A training or sampling step frees and allocates the same multi-megabyte buffers every time
/// (activations, Jacobian tangents, gradients). By default glibc returns such blocks at once
/// (munmap, or a trim of the heap top), so the next step takes a page fault on every 4 KiB page
/// and the kernel zeroes it again: a fifth of an exact-divergence training step on the development
/// machine (docs/PERFORMANCE.md). This raises glibc's mmap threshold to its 32 MiB maximum (buffers
/// below it come from the heap and are reused) and its trim threshold to 1 GiB. The process's
/// resident memory then stays near its peak instead of shrinking between steps; the peak itself
/// does not change. Returns false where the C library refused a setting (not glibc).
bool retain_freed_memory();

/// Selects LibTorch's AVX-512 kernels for elementwise work where the processor has AVX-512 (F, BW,
/// DQ, VL) and FMA: LibTorch 1.13 falls back to its AVX2 kernels on processors its CPU detection
/// does not know (AMD Zen 4 among them). Sets ATEN_CPU_CAPABILITY, which LibTorch reads at its first
/// kernel dispatch; a value the user set is kept. Returns whether AVX-512 was selected by this call.
bool prefer_avx512_kernels();

/// Both of the above: call once, first thing in main, before any tensor is made.
void configure_cpu_runtime();

}  // namespace phasegen
