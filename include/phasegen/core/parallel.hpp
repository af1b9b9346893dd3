// Work split over the processor's cores: independent random streams, and contiguous parts of a
// batch run on threads of their own, each with single-threaded BLAS.
//
//   phasegen::run_in_parts(batch, phasegen::resolve_workers(0, batch), [&](int part, std::int64_t begin, std::int64_t n) {
//     at::Generator gen = phasegen::stream_generator(seed, phasegen::Stream::kSamplePart, part);
//     ...  // rows [begin, begin + n) of the batch
//   });
#pragma once

#include <cstdint>
#include <functional>

namespace phasegen {

/// Fewest rows a part gets when the worker count is chosen automatically: smaller matrix products
/// lose more to their packing than a second core gains.
inline constexpr std::int64_t kMinRowsPerWorker = 128;

/// The worker count `requested` stands for, for batches of `rows`: itself when positive; when 0, one
/// per CPU (the CPUs shared by `processes_here` processes on this machine), but no more than one per
/// kMinRowsPerWorker rows (and at least one).
int resolve_workers(int requested, std::int64_t rows, int processes_here = 1);

/// Runs work(part, begin, count) for `parts` contiguous ranges covering [0, rows) (the first
/// rows % parts ranges one row longer), each on a thread of its own, and waits for all. For the
/// duration OpenBLAS's own threads (where OpenBLAS is the BLAS) are set to one, so that each part's
/// products run on its own core, and restored after; LibTorch's intra-op threads are left as set
/// (one for network work). parts <= 1 or rows < 2 runs the work inline. An exception thrown by any
/// part is rethrown here after every thread has finished. Grad mode is per thread: a part that
/// needs a graph, or none, says so itself.
void run_in_parts(std::int64_t rows, int parts, const std::function<void(int, std::int64_t, std::int64_t)>& work);

/// OpenBLAS's own thread count, and setting it, where OpenBLAS is the BLAS underneath (0 and a no-op
/// otherwise).
int blas_threads();
void set_blas_threads(int threads);

}  // namespace phasegen
