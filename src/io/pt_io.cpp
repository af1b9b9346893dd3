// .pt files: one tensor pickled as torch.save writes it, so that Python's torch.load opens it.
#include <torch/csrc/jit/serialization/pickle.h>

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
