// How the process keeps the memory LibTorch frees.
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
/// does not change. Call once, early in main, before the first large tensor. Returns false where
/// the C library refused a setting (not glibc, or a glibc without these options).
bool retain_freed_memory();

}  // namespace phasegen
