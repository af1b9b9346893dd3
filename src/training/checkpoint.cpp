#include "phasegen/training/checkpoint.hpp"

#include <torch/serialize/output-archive.h>

#include <filesystem>
#include <sstream>

#include "io/atomic_file.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/version.hpp"

namespace phasegen {

namespace {

constexpr const char* kOldFormat = "phasegen-checkpoint-1";

at::Tensor curve_tensor(const std::vector<std::pair<std::int64_t, double>>& curve) {
  at::Tensor t = at::empty({static_cast<std::int64_t>(curve.size()), 2}, at::kDouble);
  for (std::size_t i = 0; i < curve.size(); ++i) {
    t[static_cast<std::int64_t>(i)][0] = static_cast<double>(curve[i].first);
    t[static_cast<std::int64_t>(i)][1] = curve[i].second;
  }
  return t;
}

std::vector<std::pair<std::int64_t, double>> curve_from(const at::Tensor& stored) {
  const at::Tensor t = stored.to(at::kCPU, at::kDouble).contiguous();
  std::vector<std::pair<std::int64_t, double>> curve;
  for (std::int64_t i = 0; i < t.size(0); ++i) {
    curve.emplace_back(static_cast<std::int64_t>(t[i][0].item<double>()), t[i][1].item<double>());
  }
  return curve;
}

c10::IValue entry(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  c10::IValue value;
  PHASEGEN_CHECK(archive.try_read(key, value), "'", path, "' is not a phasegen checkpoint: it has no '", key, "' entry");
  return value;
}

std::string read_string(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  const c10::IValue value = entry(archive, key, path);
  PHASEGEN_CHECK(value.isString(), "'", path, "' is damaged: its '", key, "' entry is not text");
  return value.toStringRef();
}

std::int64_t read_int(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  const c10::IValue value = entry(archive, key, path);
  PHASEGEN_CHECK(value.isInt(), "'", path, "' is damaged: its '", key, "' entry is not an integer");
  return value.toInt();
}

double read_double(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  const c10::IValue value = entry(archive, key, path);
  PHASEGEN_CHECK(value.isDouble(), "'", path, "' is damaged: its '", key, "' entry is not a number");
  return value.toDouble();
}

// LibTorch's own messages run over many lines; the first says what happened.
std::string first_line(const std::exception& e) {
  const std::string why = e.what();
  return why.substr(0, why.find('\n'));
}

}  // namespace

void write_checkpoint(const std::string& path, const CheckpointRecord& r, const QNetworkImpl& net,
                      const std::vector<at::Tensor>& ema, const torch::optim::Optimizer* optimizer) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kCheckpointFormat)));
  archive.write("card", c10::IValue(r.card));
  archive.write("data_path", c10::IValue(r.data_path));
  archive.write("data_events", c10::IValue(r.data_events));
  archive.write("particles", c10::IValue(r.particles));
  archive.write("sqrt_s", c10::IValue(r.sqrt_s));
  archive.write("pdg_ids", at::tensor(std::vector<std::int64_t>(r.pdg_ids.begin(), r.pdg_ids.end()), at::kLong));
  if (r.fitted.gaussian) {
    archive.write("gaussian_mean", r.fitted.gaussian->mean.to(at::kCPU));
    archive.write("gaussian_cholesky", r.fitted.gaussian->cholesky.to(at::kCPU));
  }
  if (r.fitted.momentum_scale) archive.write("momentum_scale", c10::IValue(*r.fitted.momentum_scale));
  if (r.fitted.chain_box) archive.write("chain_box", c10::IValue(*r.fitted.chain_box));
  archive.write("version", c10::IValue(std::string(kVersion)));
  archive.write("commit", c10::IValue(std::string(kGitCommit)));
  archive.write("step", c10::IValue(r.step));
  archive.write("seed", c10::IValue(static_cast<std::int64_t>(r.seed)));
  torch::serialize::OutputArchive weights;
  net.save(weights);
  archive.write("weights", weights);
  if (!ema.empty()) {
    torch::serialize::OutputArchive shadow;
    for (std::size_t i = 0; i < ema.size(); ++i) shadow.write(std::to_string(i), ema[i]);
    archive.write("ema", shadow);
  }
  if (optimizer != nullptr) {
    torch::serialize::OutputArchive state;
    optimizer->save(state);
    archive.write("optimizer", state);
  }
  archive.write("train_curve", curve_tensor(r.train_curve));
  archive.write("validation_curve", curve_tensor(r.validation_curve));
  // Serialised in memory first: LibTorch's archive writer aborts the process (an exception from
  // its destructor) when the file stream fails under it, e.g. on a full disk; a failed write of
  // the finished bytes is an ordinary error here, and the previous checkpoint stays in place.
  std::ostringstream bytes;
  archive.save_to(bytes);
  detail::AtomicFile file(path);
  const std::string data = bytes.str();
  file.stream().write(data.data(), static_cast<std::streamsize>(data.size()));
  file.commit();
}

CheckpointReader::CheckpointReader(std::string path, const at::Device& device)
    : path_(std::move(path)), archive_(std::make_shared<torch::serialize::InputArchive>()) {
  std::error_code ec;
  PHASEGEN_CHECK(std::filesystem::is_regular_file(path_, ec), "cannot read checkpoint '", path_, "': no such file");
  try {
    archive_->load_from(path_, device);
  } catch (const std::exception& e) {
    throw Error(detail::concat("'", path_, "' is not a readable checkpoint (truncated or corrupt?): ", first_line(e)));
  }
  torch::serialize::InputArchive& a = *archive_;
  const std::string format = read_string(a, "format", path_);
  PHASEGEN_CHECK(format != kOldFormat, "'", path_, "' was written by an older phasegen (", format,
                 ", version 0.1): this version reads ", kCheckpointFormat, " only; train the model again");
  PHASEGEN_CHECK(format == kCheckpointFormat, "'", path_, "' is a checkpoint of another format: expected ",
                 kCheckpointFormat);
  CheckpointRecord& r = record_;
  r.card = read_string(a, "card", path_);
  r.data_path = read_string(a, "data_path", path_);
  r.data_events = read_int(a, "data_events", path_);
  r.particles = read_int(a, "particles", path_);
  r.sqrt_s = read_double(a, "sqrt_s", path_);
  r.version = read_string(a, "version", path_);
  r.commit = read_string(a, "commit", path_);
  r.step = read_int(a, "step", path_);
  r.seed = static_cast<std::uint64_t>(read_int(a, "seed", path_));
  try {
    at::Tensor t;
    a.read("pdg_ids", t);
    t = t.to(at::kCPU, at::kLong).contiguous();
    for (std::int64_t i = 0; i < t.numel(); ++i) r.pdg_ids.push_back(static_cast<int>(t[i].item<std::int64_t>()));
    at::Tensor mean, cholesky;
    if (a.try_read("gaussian_mean", mean) && a.try_read("gaussian_cholesky", cholesky)) {
      r.fitted.gaussian = GaussianPrior{mean.to(at::kDouble), cholesky.to(at::kDouble)};
    }
    c10::IValue scale;
    if (a.try_read("momentum_scale", scale)) r.fitted.momentum_scale = scale.toDouble();
    c10::IValue box;
    if (a.try_read("chain_box", box)) r.fitted.chain_box = box.toDouble();
    at::Tensor curve;
    if (a.try_read("train_curve", curve)) r.train_curve = curve_from(curve);
    if (a.try_read("validation_curve", curve)) r.validation_curve = curve_from(curve);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(detail::concat("checkpoint '", path_, "' is damaged: ", first_line(e)));
  }
  PHASEGEN_CHECK(r.particles >= 2 && r.sqrt_s > 0, "checkpoint '", path_, "' is damaged: N = ", r.particles,
                 ", sqrt_s = ", r.sqrt_s);
}

bool CheckpointReader::load_weights(QNetworkImpl& net, bool ema) const {
  try {
    torch::serialize::InputArchive weights;
    archive_->read("weights", weights);
    net.load(weights);
    std::vector<at::Tensor> shadow;
    if (!ema || !load_ema(shadow)) return false;
    at::NoGradGuard no_grad;
    auto params = net.parameters();
    PHASEGEN_CHECK(shadow.size() == params.size(), "checkpoint '", path_, "' is damaged: ", shadow.size(),
                   " EMA tensors for ", params.size(), " parameters");
    for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(shadow[i]);
    return true;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(detail::concat("checkpoint '", path_, "' does not fit this model: ", first_line(e)));
  }
}

bool CheckpointReader::load_ema(std::vector<at::Tensor>& ema) const {
  torch::serialize::InputArchive shadow;
  if (!archive_->try_read("ema", shadow)) return false;
  ema.clear();
  for (std::size_t i = 0;; ++i) {
    at::Tensor t;
    if (!shadow.try_read(std::to_string(i), t)) break;
    ema.push_back(t);
  }
  return true;
}

void CheckpointReader::load_optimizer(torch::optim::Optimizer& optimizer) const {
  torch::serialize::InputArchive state;
  PHASEGEN_CHECK(archive_->try_read("optimizer", state), "checkpoint '", path_,
                 "' holds a saved model without optimiser state: training cannot resume from it");
  try {
    optimizer.load(state);
  } catch (const std::exception& e) {
    throw Error(detail::concat("checkpoint '", path_, "' does not fit this model: ", first_line(e)));
  }
}

}  // namespace phasegen
