// phasegen's Python module (phasegen._core): the argument checks every binding shares, the one
// exception class, and the module itself. The Python package (python/phasegen) re-exports it.
#include <torch/csrc/Device.h>
#include <torch/csrc/Dtype.h>
#include <torch/csrc/autograd/python_variable.h>

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <cstdlib>
#include <string>

#include "bindings.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/core/runtime.hpp"
#include "phasegen/training/train.hpp"
#include "phasegen/version.hpp"

namespace phasegen::python {

namespace {

std::string type_name(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

std::string shape_text(const at::Tensor& t) {
  std::string text = "[";
  for (std::int64_t d = 0; d < t.dim(); ++d) text += (d ? ", " : "") + std::to_string(t.size(d));
  return text + "]";
}

std::string expected_shape(const TensorRule& rule) {
  if (rule.dims == 0) return "a tensor";
  static const char* const kNames[] = {"", "[n]", "[n, N]", "[n, N, ", "[n, N, M, "};
  std::string text = kNames[rule.dims];
  if (rule.dims >= 3) text += rule.last > 0 ? std::to_string(rule.last) + "]" : "K]";
  return text;
}

}  // namespace

at::Tensor tensor_arg(py::handle obj, const std::string& where, const TensorRule& rule) {
  PHASEGEN_CHECK(THPVariable_Check(obj.ptr()), where, ": expected a torch.Tensor, but got ", type_name(obj));
  const at::Tensor& t = THPVariable_Unpack(obj.ptr());
  PHASEGEN_CHECK(t.defined(), where, ": expected a tensor with data, but got an undefined tensor");
  const at::Device device = t.device();
  PHASEGEN_CHECK(device.is_cpu() || device.is_cuda(), where, ": expected a tensor on the CPU or a CUDA device, but got one on ",
                 device.str());
  PHASEGEN_CHECK(rule.any_dtype || t.scalar_type() == at::kDouble || t.scalar_type() == at::kFloat, where,
                 ": expected float64 (or float32), but got ", c10::toString(t.scalar_type()));
  if (rule.dims > 0) {
    const bool last_ok = rule.last == 0 || (t.dim() > 0 && t.size(-1) == rule.last);
    PHASEGEN_CHECK(t.dim() == rule.dims && last_ok, where, ": expected shape ", expected_shape(rule), ", but got ",
                   shape_text(t));
  }
  if (rule.finite && t.numel() > 0 && at::isFloatingType(t.scalar_type())) {
    at::Tensor bad = t.detach().isfinite().logical_not_();
    if (bad.any().item<bool>()) {
      const std::int64_t first = t.dim() >= 1 ? bad.reshape({t.size(0), -1}).any(1).nonzero()[0][0].item<std::int64_t>() : 0;
      PHASEGEN_CHECK(false, where, ": expected finite values, but entry ", first, " (counting from 0 along the first axis)",
                     " holds NaN or infinity");
    }
  }
  return t;
}

at::Tensor optional_tensor_arg(py::handle obj, const std::string& where, const TensorRule& rule) {
  return obj.is_none() ? at::Tensor() : tensor_arg(obj, where, rule);
}

at::Tensor events_arg(py::handle obj, const std::string& where) { return tensor_arg(obj, where, {3, 4}); }
at::Tensor states_arg(py::handle obj, const std::string& where) { return tensor_arg(obj, where, {3, 3}); }
at::Tensor sample_arg(py::handle obj, const std::string& where) { return tensor_arg(obj, where, {1, 0}); }

void check_same_device(const at::Tensor& a, const at::Tensor& b, const std::string& where) {
  PHASEGEN_CHECK(a.device() == b.device(), where, ": expected tensors on one device, but got ", a.device().str(), " and ",
                 b.device().str());
}

std::uint64_t seed_arg(std::int64_t seed, const std::string& where) {
  PHASEGEN_CHECK(seed >= 0, where, ": expected a seed >= 0, but got ", seed);
  return static_cast<std::uint64_t>(seed);
}

at::Device device_arg(py::handle obj, const std::string& where) {
  if (THPDevice_Check(obj.ptr())) {
    const at::Device device = reinterpret_cast<THPDevice*>(obj.ptr())->device;
    return device_from_name(device.is_cuda() ? "cuda" : device.str());
  }
  PHASEGEN_CHECK(py::isinstance<py::str>(obj), where, ": expected a device name (auto, cpu, cuda) or a torch.device, but got ",
                 type_name(obj));
  std::string name = obj.cast<std::string>();
  if (name.rfind("cuda:", 0) == 0) {
    PHASEGEN_CHECK(name == "cuda:0", where, ": phasegen runs on the first CUDA device (cuda:0), but got '", name, "'");
    name = "cuda";
  }
  try {
    return device_from_name(name);
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
}

at::ScalarType dtype_arg(py::handle obj, const std::string& where) {
  PHASEGEN_CHECK(THPDtype_Check(obj.ptr()), where, ": expected torch.float64 or torch.float32, but got ", type_name(obj));
  const at::ScalarType type = reinterpret_cast<THPDtype*>(obj.ptr())->scalar_type;
  PHASEGEN_CHECK(type == at::kDouble || type == at::kFloat, where, ": expected torch.float64 or torch.float32, but got ",
                 c10::toString(type));
  return type;
}

double sqrt_s_of(py::handle sqrt_s, const at::Tensor& events, const std::string& where) {
  if (!sqrt_s.is_none()) {
    const double value = sqrt_s.cast<double>();
    PHASEGEN_CHECK(std::isfinite(value) && value > 0, where, ": expected sqrt_s > 0, but got ", value);
    return value;
  }
  PHASEGEN_CHECK(events.size(0) > 0, where, ": sqrt_s is taken from the first event, but there are no events (give sqrt_s)");
  const double value = events[0].select(-1, 0).sum().item<double>();
  PHASEGEN_CHECK(std::isfinite(value) && value > 0, where, ": the first event's total energy is ", value,
                 ", not a sqrt_s > 0 (give sqrt_s)");
  return value;
}

void check_python_signals() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

ThreadsGuard::ThreadsGuard(int threads) : previous_(at::get_num_threads()) { at::set_num_threads(threads); }
ThreadsGuard::~ThreadsGuard() { at::set_num_threads(previous_); }

void Progress::update(std::int64_t done, bool check_signals, std::int64_t total) const {
  py::gil_scoped_acquire gil;
  if (PyErr_Occurred() != nullptr) return;
  if (check_signals && PyErr_CheckSignals() != 0) throw py::error_already_set();
  if (!callback_.is_none()) callback_(done, total >= 0 ? total : total_);
}

}  // namespace phasegen::python

PYBIND11_MODULE(_core, m) {
  namespace py = pybind11;
  using namespace phasegen::python;
  // The command line's choice of CPU kernels (AVX-512 where the processor has it), made before this
  // module imports torch: with it the module's numbers are the command line's, bit for bit. It takes
  // effect only where no LibTorch kernel has run yet in the process (the package imports this first).
  const bool selected = phasegen::prefer_avx512_kernels();
  m.doc() = "phasegen's C++ library: exact massless phase space, its targets, event files and trained models";

  static py::exception<phasegen::Error> error(m, "Error", PyExc_RuntimeError);
  error.doc() = "Every error phasegen raises: bad input, bad settings, unreadable files. The message says what was "
                "expected, what was got and where.";
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const phasegen::Error& e) {
      error(e.what());
    } catch (const phasegen::InternalError& e) {
      error((std::string("internal error, please report it: ") + e.what()).c_str());
    } catch (const c10::Error& e) {
      error(e.what_without_backtrace());
    }
  });

  m.attr("__version__") = phasegen::kVersion;
  m.attr("commit") = phasegen::kGitCommit;
  m.attr("selected_avx512") = selected;
  m.def(
      "cpu_kernels", [] {
        const char* chosen = std::getenv("ATEN_CPU_CAPABILITY");
        return std::string(chosen != nullptr ? chosen : "");
      },
      "ATEN_CPU_CAPABILITY as LibTorch reads it at its first kernel ('' : LibTorch's own choice), as the command line sets it.");
  m.def("num_threads", [] { return at::get_num_threads(); }, "LibTorch's intra-op thread count.");

  register_core(m);
  register_observables(m);
  register_targets(m);
  register_io(m);
  register_models(m);
}
