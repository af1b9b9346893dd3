// .pt files: one tensor pickled as torch.save writes it, so that Python's torch.load opens it.
#include <torch/csrc/jit/serialization/pickle.h>

#include <ATen/core/Dict.h>

#include <fstream>
#include <iterator>
#include <vector>

#include "atomic_file.hpp"
#include "io_detail.hpp"
#include "phasegen/error.hpp"

namespace phasegen::detail {

namespace {

class PtWriter final : public FileEventWriter {
 public:
  PtWriter(const std::string& path, const WriterOptions& options) : FileEventWriter(path, options) {}

  void write(const at::Tensor& events) override {
    batches_.push_back(writable_batch(events, options_, file_.path()));
    written_ += events.size(0);
  }

  void close() override {
    at::Tensor all = batches_.empty() ? at::empty({0, options_.particles, 4}, at::kDouble)
                                      : at::cat(batches_, 0);
    batches_.clear();
    const std::vector<char> bytes = torch::jit::pickle_save(all);
    file_.stream().write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file_.commit();
  }

 private:
  std::vector<at::Tensor> batches_;
};

}  // namespace

std::unique_ptr<EventWriter> open_pt_writer(const std::string& path, const WriterOptions& options) {
  return std::make_unique<PtWriter>(path, options);
}

RawEvents read_pt(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  at::Tensor t;
  try {
    c10::IValue value = torch::jit::pickle_load(bytes);
    PHASEGEN_CHECK(value.isTensor(), "'", path, "': expected a tensor, but the file holds a ",
                   value.tagKind());
    t = value.toTensor();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string why = e.what();
    why = why.substr(0, why.find('\n'));
    throw Error(concat("'", path, "' is not a readable .pt tensor file (truncated or corrupt?): ", why));
  }
  PHASEGEN_CHECK(t.dim() == 3 && (t.size(2) == 4 || t.size(2) == 3), "'", path,
                 "': expected a tensor of shape (n, N, 4) with (E, px, py, pz) or (n, N, 3) with "
                 "3-momenta, but got ",
                 t.sizes());
  PHASEGEN_CHECK(at::isFloatingType(t.scalar_type()), "'", path,
                 "': expected a floating-point tensor, but got ", t.scalar_type());
  RawEvents raw;
  raw.single_precision = t.scalar_type() != at::kDouble;
  at::Tensor p = t.to(at::kCPU, at::kDouble);
  if (p.size(2) == 3) {
    // The paper's layout: massless 3-momenta, E = |p|.
    at::Tensor e = at::linalg_vector_norm(p, 2, {2}, true, c10::nullopt);
    p = at::cat({e, p}, 2);
  }
  raw.momenta = p.contiguous();
  return raw;
}

}  // namespace phasegen::detail

namespace phasegen {

void write_trajectory(const std::string& path, const Trajectory& trajectory) {
  PHASEGEN_CHECK(format_from_path(path) == EventFormat::kPt, "trajectory: expected a .pt file, but got '", path, "'");
  PHASEGEN_CHECK(trajectory.events.dim() == 4 && trajectory.events.size(3) == 4 && trajectory.steps.dim() == 1 &&
                     trajectory.steps.size(0) == trajectory.events.size(0),
                 "trajectory: expected steps [S] and events [S, n, N, 4], but got ", trajectory.steps.sizes(), " and ",
                 trajectory.events.sizes());
  detail::AtomicFile file(path);
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("steps", trajectory.steps.to(at::kCPU, at::kLong).contiguous());
  dict.insert("events", trajectory.events.to(at::kCPU, at::kDouble).contiguous());
  const std::vector<char> bytes = torch::jit::pickle_save(c10::IValue(dict));
  file.stream().write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.commit();
}

Trajectory read_trajectory(const std::string& path, const ReadOptions& options) {
  detail::check_readable(path);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Trajectory t;
  try {
    c10::IValue value = torch::jit::pickle_load(bytes);
    PHASEGEN_CHECK(value.isGenericDict(), "'", path, "': expected a trajectory dict {steps, events}");
    auto dict = value.toGenericDict();
    PHASEGEN_CHECK(dict.contains("steps") && dict.contains("events"), "'", path,
                   "': expected a trajectory dict with keys 'steps' and 'events'");
    t.steps = dict.at("steps").toTensor();
    t.events = dict.at("events").toTensor();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string why = e.what();
    throw Error(detail::concat("'", path, "' is not a readable trajectory file (truncated or corrupt?): ",
                               why.substr(0, why.find('\n'))));
  }
  PHASEGEN_CHECK(t.events.dim() == 4 && t.events.size(3) == 4 && t.steps.size(0) == t.events.size(0), "'", path,
                 "': expected steps [S] and events [S, n, N, 4], but got ", t.steps.sizes(), " and ", t.events.sizes());
  PHASEGEN_CHECK(t.events.size(0) > 0 && t.events.size(1) > 0, "'", path, "' holds no states");
  double sqrt_s = t.events[0][0].select(1, 0).sum().item<double>();
  if (!options.require_conservation) {
    sqrt_s = options.sqrt_s > 0 ? options.sqrt_s : t.events.select(3, 0).sum(2).mean().item<double>();
  }
  for (std::int64_t k = 0; k < t.events.size(0); ++k) {
    validate_events(t.events[k], sqrt_s, options.tolerance,
                    detail::concat("'", path, "' state ", k + 1, " (step ", t.steps[k].item<std::int64_t>(), ")"),
                    options.require_conservation);
  }
  return t;
}

}  // namespace phasegen
