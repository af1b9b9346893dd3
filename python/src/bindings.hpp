// Shared pieces of phasegen's Python module: argument conversion with phasegen's messages, the GIL
// and Ctrl-C around long calls, and the registration functions of each part of the module.
#pragma once

#include <torch/csrc/utils/pybind.h>

#include <pybind11/pybind11.h>

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace phasegen::python {

namespace py = pybind11;

/// What an argument must be: a tensor of `dims` dimensions whose last one is `last` (0: any; dims 0:
/// any number), float32 or float64 (or `any_dtype`), on the CPU or a CUDA device, every entry finite.
struct TensorRule {
  int dims = 0;
  std::int64_t last = 0;
  bool finite = true;
  bool any_dtype = false;
};

/// The tensor `obj` holds, checked by `rule`; `where` names the function and the argument in the
/// message of the phasegen.Error raised otherwise ("rambo_map: q").
at::Tensor tensor_arg(py::handle obj, const std::string& where, const TensorRule& rule);
/// The same for an optional argument (None: an undefined tensor).
at::Tensor optional_tensor_arg(py::handle obj, const std::string& where, const TensorRule& rule);

/// Events [n, N, 4] and q-space states [n, N, 3].
at::Tensor events_arg(py::handle obj, const std::string& where);
at::Tensor states_arg(py::handle obj, const std::string& where);
/// A sample of one observable, [n].
at::Tensor sample_arg(py::handle obj, const std::string& where);

/// Throws phasegen::Error unless `a` and `b` are on one device.
void check_same_device(const at::Tensor& a, const at::Tensor& b, const std::string& where);

/// A seed as the command line takes it: an integer >= 0.
std::uint64_t seed_arg(std::int64_t seed, const std::string& where);

/// A device from "cpu", "cuda", "cuda:0", "auto" or a torch.device.
at::Device device_arg(py::handle obj, const std::string& where);
/// A floating dtype from torch.float32 / torch.float64.
at::ScalarType dtype_arg(py::handle obj, const std::string& where);

/// sqrt(s) of events: the given value, or (None) the total energy of the first event.
double sqrt_s_of(py::handle sqrt_s, const at::Tensor& events, const std::string& where);

/// Call from C++ code running without the GIL (a batch callback): takes the GIL and throws
/// py::error_already_set when Ctrl-C (or another signal handler) raised in Python.
void check_python_signals();

/// The number of LibTorch threads for the lifetime of the guard (the command line's network work
/// runs on one), restored after it.
class ThreadsGuard {
 public:
  explicit ThreadsGuard(int threads);
  ~ThreadsGuard();
  ThreadsGuard(const ThreadsGuard&) = delete;
  ThreadsGuard& operator=(const ThreadsGuard&) = delete;

 private:
  int previous_;
};

/// A progress callback from Python (None: none), called with (done, total) under the GIL.
class Progress {
 public:
  Progress(py::object callback, std::int64_t total) : callback_(std::move(callback)), total_(total) {}
  /// Reports `done`, and (with `check_signals`) raises Ctrl-C as py::error_already_set; called
  /// without the GIL. Does nothing while a Python error is pending (a stop already asked for).
  /// `total` >= 0 replaces the total given at construction (training learns it at its first step).
  void update(std::int64_t done, bool check_signals = true, std::int64_t total = -1) const;

 private:
  py::object callback_;
  std::int64_t total_;
};

void register_core(py::module_& m);
void register_observables(py::module_& m);
void register_targets(py::module_& m);
void register_io(py::module_& m);
void register_models(py::module_& m);

}  // namespace phasegen::python
