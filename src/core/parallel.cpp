#include "phasegen/core/parallel.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace phasegen {

int resolve_workers(int requested, std::int64_t rows, int processes_here) {
  if (requested > 0) return requested;
  const unsigned cpus = std::thread::hardware_concurrency();
  const std::int64_t share = std::max<std::int64_t>(1, static_cast<std::int64_t>(cpus > 0 ? cpus : 1) /
                                                           std::max(processes_here, 1));
  const std::int64_t by_rows = std::max<std::int64_t>(1, rows / kMinRowsPerWorker);
  return static_cast<int>(std::min(share, by_rows));
}

int blas_threads() {
  using Getter = int (*)();
  auto get = reinterpret_cast<Getter>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get != nullptr ? get() : 0;
}

void set_blas_threads(int threads) {
  using Setter = void (*)(int);
  if (auto set = reinterpret_cast<Setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(threads);
}

void run_in_parts(std::int64_t rows, int parts, const std::function<void(int, std::int64_t, std::int64_t)>& work) {
  const std::int64_t n = std::min<std::int64_t>(std::max(parts, 1), std::max<std::int64_t>(rows, 1));
  if (n <= 1) {
    work(0, 0, rows);
    return;
  }
  const int blas = blas_threads();
  set_blas_threads(1);
  std::exception_ptr failure;
  std::mutex failure_mutex;
  std::vector<std::thread> threads;
  auto record = [&] {
    std::lock_guard<std::mutex> lock(failure_mutex);
    if (!failure) failure = std::current_exception();
  };
  std::int64_t begin = 0;
  for (std::int64_t part = 0; part < n; ++part) {
    const std::int64_t count = rows / n + (part < rows % n ? 1 : 0);
    try {
      threads.emplace_back([&, part, begin, count] {
        try {
          work(static_cast<int>(part), begin, count);
        } catch (...) {
          record();
        }
      });
    } catch (...) {  // no thread could be started: the parts started finish, the error is reported
      record();
      break;
    }
    begin += count;
  }
  for (auto& t : threads) t.join();
  if (blas > 0) set_blas_threads(blas);
  if (failure) std::rethrow_exception(failure);
}

}  // namespace phasegen
