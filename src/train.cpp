#include "phasegen/train.hpp"

#include <torch/csrc/autograd/autograd.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <sstream>

#include "io/atomic_file.hpp"
#include "phasegen/distributed.hpp"
#include "phasegen/error.hpp"
#include "phasegen/parallel.hpp"
#include "phasegen/phasespace.hpp"
#include "phasegen/version.hpp"

namespace phasegen {

namespace {

constexpr const char* kFormat = "phasegen-checkpoint-1";
constexpr double kPi = 3.14159265358979323846;
constexpr std::int64_t kValidationBatches = 8;

enum Purpose : std::uint64_t { kSplit = 1, kEpoch = 2, kStep = 3, kValidation = 4, kStepPart = 5 };

at::Tensor curve_tensor(const std::vector<std::pair<std::int64_t, double>>& curve) {
  at::Tensor t = at::empty({static_cast<std::int64_t>(curve.size()), 2}, at::kDouble);
  for (std::size_t i = 0; i < curve.size(); ++i) {
    t[i][0] = static_cast<double>(curve[i].first);
    t[i][1] = curve[i].second;
  }
  return t;
}

std::vector<std::pair<std::int64_t, double>> curve_from(const at::Tensor& stored) {
  const at::Tensor t = stored.to(at::kCPU);
  std::vector<std::pair<std::int64_t, double>> curve;
  for (std::int64_t i = 0; i < t.size(0); ++i) {
    curve.emplace_back(static_cast<std::int64_t>(t[i][0].item<double>()), t[i][1].item<double>());
  }
  return curve;
}

std::string read_string(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  c10::IValue value;
  PHASEGEN_CHECK(archive.try_read(key, value) && value.isString(), "'", path,
                 "' is not a phasegen checkpoint: it has no '", key, "' entry");
  return value.toStringRef();
}

std::int64_t read_int(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  c10::IValue value;
  PHASEGEN_CHECK(archive.try_read(key, value) && value.isInt(), "'", path,
                 "' is not a phasegen checkpoint: it has no '", key, "' entry");
  return value.toInt();
}

// Opens a checkpoint archive, turning LibTorch's errors into one clear message.
// Its tensors come back on `device`.
torch::serialize::InputArchive open_archive(const std::string& path, const at::Device& device = at::kCPU) {
  std::error_code ec;
  PHASEGEN_CHECK(std::filesystem::is_regular_file(path, ec), "cannot read checkpoint '", path, "': no such file");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, device);
  } catch (const std::exception& e) {
    std::string why = e.what();
    throw Error(detail::concat("'", path, "' is not a readable checkpoint (truncated or corrupt?): ",
                               why.substr(0, why.find('\n'))));
  }
  PHASEGEN_CHECK(read_string(archive, "format", path) == kFormat, "'", path,
                 "' is a checkpoint of another format: expected ", kFormat);
  return archive;
}

void check_same(const std::string& what, const std::string& stored, const std::string& expected,
                const std::string& path) {
  if (stored == expected) return;
  auto first_line_difference = [](const std::string& a, const std::string& b) {
    std::istringstream sa(a), sb(b);
    std::string la, lb;
    while (true) {
      const bool ga = static_cast<bool>(std::getline(sa, la)), gb = static_cast<bool>(std::getline(sb, lb));
      if (!ga && !gb) return std::string("(same lines, different layout)");
      if (!ga) la = "(nothing)";
      if (!gb) lb = "(nothing)";
      if (la != lb) return "checkpoint has '" + la + "', this run has '" + lb + "'";
    }
  };
  throw Error(detail::concat("checkpoint '", path, "' is from another model: its ", what, " differs (",
                             first_line_difference(stored, expected), ")"));
}

}  // namespace

void clip_gradients(const std::vector<at::Tensor>& parameters, double max_norm) {
  std::vector<at::Tensor> grads, norms;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return;
  for (const auto& g : grads) norms.push_back(g.norm(2.0));
  const at::Tensor total = norms.size() == 1 ? norms[0] : at::stack(norms).norm(2.0);
  const at::Tensor factor = at::clamp(max_norm / (total + 1e-6), c10::nullopt, 1.0);
  for (auto& g : grads) g.mul_(factor);
}

at::Device device_from_name(const std::string& name) {
  if (name == "cpu") return at::kCPU;
  PHASEGEN_CHECK(name == "cuda" || name == "auto", "device: expected auto, cpu or cuda, but got '", name, "'");
  const bool usable = torch::cuda::is_available();
  if (name == "auto") return usable ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  PHASEGEN_CHECK(usable, "device = cuda: ",
                 at::hasCUDA() ? "LibTorch has CUDA, but no GPU is visible (CUDA_VISIBLE_DEVICES? driver?)"
                               : "this LibTorch was built without CUDA (build against a CUDA LibTorch, see README)");
  return at::Device(at::kCUDA, 0);
}

void TrainOptions::validate() const {
  PHASEGEN_CHECK(batch >= 1, "batch: expected a batch size >= 1, but got ", batch);
  PHASEGEN_CHECK(steps > 0 || epochs > 0, "epochs: expected epochs >= 1 or steps >= 1, but got epochs = ", epochs,
                 ", steps = ", steps);
  PHASEGEN_CHECK(lr > 0 && std::isfinite(lr), "lr: expected a positive learning rate, but got ", lr);
  PHASEGEN_CHECK(weight_decay >= 0, "weight_decay: expected >= 0, but got ", weight_decay);
  PHASEGEN_CHECK(clip >= 0, "clip: expected >= 0, but got ", clip);
  PHASEGEN_CHECK(warmup >= 0, "warmup: expected >= 0, but got ", warmup);
  PHASEGEN_CHECK(ema >= 0 && ema < 1, "ema: expected a decay in [0, 1), but got ", ema);
  PHASEGEN_CHECK(validation_fraction >= 0 && validation_fraction < 1,
                 "validation_fraction: expected a fraction in [0, 1), but got ", validation_fraction);
  PHASEGEN_CHECK(validate_every >= 1 && checkpoint_every >= 1,
                 "validate_every and checkpoint_every: expected >= 1, but got ", validate_every, " and ",
                 checkpoint_every);
  PHASEGEN_CHECK(!checkpoint.empty(), "checkpoint: expected a checkpoint path");
  PHASEGEN_CHECK(workers >= 1, "workers: expected a worker count >= 1, but got ", workers);
  PHASEGEN_CHECK(loss_group >= 1, "loss_group: expected >= 1 rows, but got ", loss_group);
  PHASEGEN_CHECK(!processes || device.is_cpu(), "device = ", device,
                 ": training on several processes runs on the CPU in this version (Gloo); use device = cpu, or one "
                 "process per run on a GPU");
}

at::Tensor loss_and_gradients(QNetworkImpl& net, const LossFunction& loss, const at::Tensor& events,
                              at::Generator& gen, int workers, std::int64_t group,
                              const std::function<at::Generator(int part)>& part_generator,
                              std::int64_t batch_rows) {
  const std::int64_t rows = events.size(0);
  const std::int64_t whole = batch_rows > 0 ? batch_rows : rows;
  PHASEGEN_CHECK(whole >= rows, "loss_and_gradients: a share of ", rows, " rows of a minibatch of ", whole);
  const std::int64_t groups = (rows + group - 1) / group;
  const int parts = static_cast<int>(std::min<std::int64_t>(std::max(workers, 1), groups));
  if (parts <= 1 && whole == rows) {
    at::Tensor value = loss(net, events, gen);
    value.backward();
    return value.detach();
  }
  const std::vector<at::Tensor> params = net.parameters();
  std::vector<std::vector<at::Tensor>> grads(static_cast<std::size_t>(parts));
  std::vector<at::Tensor> losses(static_cast<std::size_t>(parts));
  // Parts are split in whole groups: part k takes groups [k * groups / parts, (k + 1) * groups / parts).
  run_in_parts(groups, parts, [&](int part, std::int64_t first_group, std::int64_t group_count) {
    const std::int64_t begin = first_group * group;
    const std::int64_t count = std::min(rows, (first_group + group_count) * group) - begin;
    at::AutoGradMode graph(true);
    at::Generator part_gen = part_generator(part);
    const at::Tensor value =
        loss(net, events.narrow(0, begin, count), part_gen) * (static_cast<double>(count) / static_cast<double>(whole));
    grads[static_cast<std::size_t>(part)] =
        torch::autograd::grad({value}, params, /*grad_outputs=*/{}, /*retain_graph=*/false, /*create_graph=*/false,
                              /*allow_unused=*/true);
    losses[static_cast<std::size_t>(part)] = value.detach();
  });
  at::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params.size(); ++i) {
    at::Tensor sum;
    for (const auto& part : grads) {
      if (!part[i].defined()) continue;
      sum = sum.defined() ? sum.add_(part[i]) : part[i].clone();
    }
    if (!sum.defined()) continue;
    at::Tensor& grad = params[i].mutable_grad();
    grad = grad.defined() ? grad.add_(sum) : sum;
  }
  at::Tensor total = losses.front();
  for (std::size_t k = 1; k < losses.size(); ++k) total = total + losses[k];
  return total;
}

std::string to_key_values(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string text;
  for (const auto& [k, v] : entries) text += k + " = " + v + "\n";
  return text;
}

namespace {

std::optional<std::string> find_key_value(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  const std::string prefix = key + " = ";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return std::nullopt;
}

}  // namespace

std::string key_value(const std::string& text, const std::string& key) {
  std::optional<std::string> value = find_key_value(text, key);
  if (!value) throw Error(detail::concat("missing setting '", key, "'"));
  return *value;
}

std::string key_value_or(const std::string& text, const std::string& key, const std::string& fallback) {
  return find_key_value(text, key).value_or(fallback);
}

bool has_key_value(const std::string& text, const std::string& key) { return find_key_value(text, key).has_value(); }

std::string network_to_text(const NetworkOptions& o) {
  return to_key_values({{"kind", o.kind_},
                        {"particles", std::to_string(o.particles_)},
                        {"hidden", std::to_string(o.hidden_)},
                        {"layers", std::to_string(o.layers_)},
                        {"time_embedding", std::to_string(o.time_embedding_)},
                        {"model_dim", std::to_string(o.model_dim_)},
                        {"blocks", std::to_string(o.blocks_)},
                        {"heads", std::to_string(o.heads_)},
                        {"extra_inputs", std::to_string(o.extra_inputs_)}});
}

NetworkOptions network_from_text(const std::string& text) {
  auto integer = [&](const std::string& key) { return std::stoll(key_value(text, key)); };
  return NetworkOptions()
      .kind(key_value(text, "kind"))
      .particles(integer("particles"))
      .hidden(integer("hidden"))
      .layers(integer("layers"))
      .time_embedding(integer("time_embedding"))
      .model_dim(integer("model_dim"))
      .blocks(integer("blocks"))
      .heads(integer("heads"))
      .extra_inputs(std::stoll(key_value_or(text, "extra_inputs", "0")));
}

Trainer::Trainer(std::shared_ptr<QNetworkImpl> net, LossFunction loss, TrainOptions options, ModelInfo info)
    : net_(std::move(net)), loss_(std::move(loss)), options_(std::move(options)), info_(std::move(info)) {
  options_.validate();
  net_->to(options_.device);
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      net_->parameters(), torch::optim::AdamWOptions(options_.lr).weight_decay(options_.weight_decay));
  if (options_.ema > 0) {
    at::NoGradGuard no_grad;
    for (const auto& p : net_->parameters()) ema_.push_back(p.detach().clone());
  }
}

std::int64_t Trainer::total_steps(std::int64_t train_events) const {
  if (options_.steps > 0) return options_.steps;
  return options_.epochs * std::max<std::int64_t>(1, train_events / (options_.batch * process_count()));
}

int Trainer::rank() const { return options_.processes ? options_.processes->rank() : 0; }

int Trainer::process_count() const { return options_.processes ? options_.processes->size() : 1; }

bool Trainer::reduce_over_processes(at::Tensor& loss, bool stop) {
  if (!options_.processes) return stop;
  at::NoGradGuard no_grad;
  const std::vector<at::Tensor> params = net_->parameters();
  // One buffer, one all-reduce: the gradients, whether each rank has each gradient (a part may
  // leave one undefined), the loss and the stop requests; in the gradients' type (two ranks' sums
  // are then the sums one process makes of its two parts, to the bit).
  const auto count = static_cast<std::int64_t>(params.size());
  const at::ScalarType type = params.front().scalar_type();
  std::vector<double> flags(static_cast<std::size_t>(count) + 2, 0.0);
  std::vector<at::Tensor> pieces;
  for (std::int64_t i = 0; i < count; ++i) {
    const at::Tensor& grad = params[static_cast<std::size_t>(i)].grad();
    if (grad.defined()) flags[static_cast<std::size_t>(i)] = 1.0;
    pieces.push_back(grad.defined() ? grad.reshape(-1).to(at::kCPU, type)
                                    : at::zeros({params[static_cast<std::size_t>(i)].numel()}, type));
  }
  flags[static_cast<std::size_t>(count)] = loss.item<double>();
  flags[static_cast<std::size_t>(count) + 1] = stop ? 1.0 : 0.0;
  pieces.push_back(at::tensor(flags, at::kDouble).to(type));
  at::Tensor buffer = at::cat(pieces).contiguous();
  options_.processes->all_reduce_sum(buffer);
  std::int64_t offset = 0;
  const at::Tensor reduced_flags = buffer.narrow(0, buffer.numel() - (count + 2), count + 2).to(at::kDouble);
  const double* flag = reduced_flags.data_ptr<double>();
  for (std::int64_t i = 0; i < count; ++i) {
    const at::Tensor& p = params[static_cast<std::size_t>(i)];
    const at::Tensor sum = buffer.narrow(0, offset, p.numel()).view(p.sizes());
    offset += p.numel();
    if (flag[i] == 0.0) continue;
    at::Tensor& grad = p.mutable_grad();
    if (grad.defined()) {
      grad.copy_(sum);
    } else {
      grad = sum.to(p.device(), p.scalar_type());
    }
  }
  loss = at::scalar_tensor(flag[count], loss.options());
  return flag[count + 1] > 0.0;
}

void Trainer::take_weights_of_rank_zero() {
  if (!options_.processes) return;
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> tensors = net_->parameters();
  tensors.insert(tensors.end(), ema_.begin(), ema_.end());
  std::vector<at::Tensor> flat;
  for (const auto& t : tensors) flat.push_back(t.reshape(-1).to(at::kCPU, at::kDouble));
  at::Tensor buffer = at::cat(flat).contiguous();
  options_.processes->broadcast(buffer, 0);
  std::int64_t offset = 0;
  for (auto& t : tensors) {
    t.copy_(buffer.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

double Trainer::learning_rate(std::int64_t step, std::int64_t total) const {
  if (step < options_.warmup) return options_.lr * static_cast<double>(step + 1) / static_cast<double>(options_.warmup);
  const double span = static_cast<double>(std::max<std::int64_t>(1, total - options_.warmup));
  const double progress = static_cast<double>(step - options_.warmup) / span;
  return options_.lr * 0.5 * (1.0 + std::cos(kPi * std::min(1.0, progress)));
}

void Trainer::save_checkpoint() const {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kFormat)));
  archive.write("model", c10::IValue(info_.model));
  archive.write("network", c10::IValue(info_.network));
  archive.write("settings", c10::IValue(info_.settings));
  archive.write("card", c10::IValue(info_.card));
  archive.write("data", c10::IValue(info_.data));
  archive.write("version", c10::IValue(std::string(kVersion)));
  archive.write("commit", c10::IValue(std::string(kGitCommit)));
  archive.write("step", c10::IValue(step_));
  archive.write("seed", c10::IValue(static_cast<std::int64_t>(options_.seed)));
  torch::serialize::OutputArchive weights;
  net_->save(weights);
  archive.write("weights", weights);
  if (!ema_.empty()) {
    torch::serialize::OutputArchive ema;
    for (std::size_t i = 0; i < ema_.size(); ++i) ema.write(std::to_string(i), ema_[i]);
    archive.write("ema", ema);
  }
  torch::serialize::OutputArchive optimizer;
  optimizer_->save(optimizer);
  archive.write("optimizer", optimizer);
  archive.write("train_curve", curve_tensor(curves_.train_curve));
  archive.write("validation_curve", curve_tensor(curves_.validation_curve));
  // Serialised in memory first: LibTorch's archive writer aborts the process (an exception from
  // its destructor) when the file stream fails under it, e.g. on a full disk; a failed write of
  // the finished bytes is an ordinary error here, and the previous checkpoint stays in place.
  std::ostringstream bytes;
  archive.save_to(bytes);
  detail::AtomicFile file(options_.checkpoint);
  const std::string data = bytes.str();
  file.stream().write(data.data(), static_cast<std::streamsize>(data.size()));
  file.commit();
}

void Trainer::resume() {
  const std::string& path = options_.checkpoint;
  torch::serialize::InputArchive archive = open_archive(path, options_.device);
  check_same("model", read_string(archive, "model", path), info_.model, path);
  check_same("network", read_string(archive, "network", path), info_.network, path);
  check_same("settings", read_string(archive, "settings", path), info_.settings, path);
  PHASEGEN_CHECK(read_int(archive, "seed", path) == static_cast<std::int64_t>(options_.seed), "checkpoint '", path,
                 "' was trained with seed ", read_int(archive, "seed", path), ", but this run has seed ",
                 options_.seed, ": resuming would not repeat the run");
  try {
    torch::serialize::InputArchive weights;
    archive.read("weights", weights);
    net_->load(weights);
    if (!ema_.empty()) {
      torch::serialize::InputArchive ema;
      PHASEGEN_CHECK(archive.try_read("ema", ema), "checkpoint '", path, "' has no EMA weights, but this run keeps them");
      at::NoGradGuard no_grad;
      for (std::size_t i = 0; i < ema_.size(); ++i) ema.read(std::to_string(i), ema_[i]);
    }
    torch::serialize::InputArchive optimizer;
    archive.read("optimizer", optimizer);
    optimizer_->load(optimizer);
    at::Tensor train_curve, validation_curve;
    archive.read("train_curve", train_curve);
    archive.read("validation_curve", validation_curve);
    curves_.train_curve = curve_from(train_curve);
    curves_.validation_curve = curve_from(validation_curve);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string why = e.what();
    throw Error(detail::concat("checkpoint '", path, "' does not fit this model: ", why.substr(0, why.find('\n'))));
  }
  step_ = read_int(archive, "step", path);
  last_good_checkpoint_ = step_;
}

double Trainer::read_losses() {
  if (unread_losses_.empty()) return std::numeric_limits<double>::quiet_NaN();
  const at::Tensor losses = at::stack(unread_losses_).to(at::kCPU, at::kDouble).contiguous();
  const std::int64_t first = unread_from_;
  unread_losses_.clear();
  const double* value = losses.data_ptr<double>();
  for (std::int64_t i = 0; i < losses.numel(); ++i) {
    if (std::isfinite(value[i])) continue;
    throw Error(detail::concat("step ", first + i, ": the training loss is ", value[i], "; stopped. ",
                               last_good_checkpoint_ >= 0
                                   ? detail::concat("The last good checkpoint, '", options_.checkpoint, "' (step ",
                                                    last_good_checkpoint_, "), is kept")
                                   : std::string("No checkpoint was written yet"),
                               "; try a lower lr or clip"));
  }
  return value[losses.numel() - 1];
}

double Trainer::validation_loss(const at::Tensor& events) {
  at::Generator gen = make_generator(stream_seed(options_.seed, kValidation, 0), options_.device);
  double sum = 0.0;
  std::int64_t batches = 0;
  const std::int64_t size = options_.batch * process_count();  // the minibatch of all processes
  for (std::int64_t start = 0; start < events.size(0) && batches < kValidationBatches; start += size) {
    at::Tensor batch = events.narrow(0, start, std::min(size, events.size(0) - start));
    sum += loss_(*net_, batch, gen).item<double>();
    ++batches;
  }
  return batches > 0 ? sum / static_cast<double>(batches) : std::numeric_limits<double>::quiet_NaN();
}

TrainResult Trainer::run(const at::Tensor& events, const std::function<void(const StepReport&)>& on_step,
                         const std::function<bool()>& should_stop) {
  PHASEGEN_CHECK(events.dim() == 3 && events.size(2) == 4, "training data: expected events [n, N, 4], but got ",
                 events.sizes());
  const std::int64_t n = events.size(0);
  std::int64_t n_validation = static_cast<std::int64_t>(options_.validation_fraction * static_cast<double>(n));
  if (options_.validation_fraction > 0 && n_validation == 0 && n >= 2) n_validation = 1;
  const at::Device device = options_.device;
  // Split and minibatch order come from CPU generators: the same on every device.
  at::Generator split_gen = make_generator(stream_seed(options_.seed, kSplit, 0));
  at::Tensor order = at::randperm(n, split_gen, at::kLong).to(device);
  const at::Tensor all = events.to(device);
  at::Tensor validation = all.index_select(0, order.narrow(0, 0, n_validation));
  at::Tensor train = all.index_select(0, order.narrow(0, n_validation, n - n_validation));
  const std::int64_t n_train = train.size(0);
  // With R processes a minibatch has R x batch rows, rank r taking the r-th share.
  const int ranks = process_count(), rank_index = rank();
  const std::int64_t minibatch = options_.batch * ranks;
  PHASEGEN_CHECK(minibatch <= n_train, "batch: expected a batch of at most the ", n_train,
                 " training events (after holding out ", n_validation, " for validation)",
                 ranks > 1 ? detail::concat(", over ", ranks, " processes") : std::string(), ", but got ",
                 ranks > 1 ? detail::concat(ranks, " x ", options_.batch) : std::to_string(options_.batch));
  const std::int64_t per_epoch = n_train / minibatch;
  take_weights_of_rank_zero();
  const std::int64_t total = total_steps(n_train);
  TrainResult& result = curves_;
  double last_validation = result.validation_curve.empty() ? std::numeric_limits<double>::quiet_NaN()
                                                           : result.validation_curve.back().second;
  at::Tensor permutation;
  std::int64_t permutation_epoch = -1;
  double loss_value = 0.0;
  bool stop_asked = false;
  while (step_ < total) {
    const std::int64_t epoch = step_ / per_epoch, position = step_ % per_epoch;
    if (epoch != permutation_epoch) {
      at::Generator epoch_gen = make_generator(stream_seed(options_.seed, kEpoch, static_cast<std::uint64_t>(epoch)));
      permutation = at::randperm(n_train, epoch_gen, at::kLong).to(device);
      permutation_epoch = epoch;
    }
    at::Tensor batch = train.index_select(
        0, permutation.narrow(0, position * minibatch + rank_index * options_.batch, options_.batch));
    at::Generator step_gen =
        make_generator(stream_seed(options_.seed, kStep, static_cast<std::uint64_t>(step_)), device);
    const double lr = learning_rate(step_, total);
    for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    optimizer_->zero_grad();
    const int workers = device.is_cpu() ? options_.workers : 1;
    // Part k of rank r is part r x workers + k of the minibatch: the same stream as in one process.
    const auto parts = static_cast<std::uint64_t>(ranks) * static_cast<std::uint64_t>(workers);
    const auto first_part = static_cast<std::uint64_t>(rank_index) * static_cast<std::uint64_t>(workers);
    const auto step_index = static_cast<std::uint64_t>(step_);
    at::Tensor loss = loss_and_gradients(
        *net_, loss_, batch, step_gen, workers, options_.loss_group,
        [&](int part) {
          return make_generator(
              stream_seed(options_.seed, kStepPart, step_index * parts + first_part + static_cast<std::uint64_t>(part)),
              device);
        },
        minibatch);
    // Several processes stop together: a request seen after one step travels with the next step's
    // gradients, and every rank stops after that step.
    const bool stop_everywhere = reduce_over_processes(loss, stop_asked);
    // Read (and checked) before this step's update: every step on the CPU, where it costs nothing;
    // on a GPU, where a read waits for the device, every kLossReadEvery steps and before every
    // validation and checkpoint, so that no checkpoint holds an update from a non-finite loss.
    const std::int64_t next = step_ + 1;
    if (unread_losses_.empty()) unread_from_ = next;
    unread_losses_.push_back(loss);
    if (device.is_cpu() || next % kLossReadEvery == 0 || next % options_.validate_every == 0 ||
        next % options_.checkpoint_every == 0 || next == total) {
      loss_value = read_losses();
    }
    if (options_.clip > 0) clip_gradients(net_->parameters(), options_.clip);
    optimizer_->step();
    if (!ema_.empty()) {
      at::NoGradGuard no_grad;
      auto params = net_->parameters();
      for (std::size_t i = 0; i < ema_.size(); ++i) ema_[i].mul_(options_.ema).add_(params[i].detach(), 1.0 - options_.ema);
    }
    ++step_;
    const bool last = step_ == total;
    if (step_ % options_.validate_every == 0 || last) {
      // Rank 0 alone: the others hold the same weights and write no checkpoint.
      last_validation = n_validation > 0 && rank_index == 0 ? validation_loss(validation)
                                                             : std::numeric_limits<double>::quiet_NaN();
      result.train_curve.emplace_back(step_, loss_value);
      result.validation_curve.emplace_back(step_, last_validation);
    }
    if (on_step) on_step({step_, total, loss_value, lr, last_validation});
    stop_asked = should_stop && should_stop();
    const bool stop = ranks > 1 ? stop_everywhere : stop_asked;
    if (step_ % options_.checkpoint_every == 0 || last || stop) {
      if (!unread_losses_.empty()) loss_value = read_losses();
      if (rank_index == 0) save_checkpoint();
      last_good_checkpoint_ = step_;
    }
    if (stop) {
      result.interrupted = true;
      break;
    }
  }
  result.steps_done = step_;
  result.last_loss = loss_value;
  result.last_validation_loss = last_validation;
  return result;
}

Checkpoint load_checkpoint(const std::string& path, const at::Device& device) {
  torch::serialize::InputArchive archive = open_archive(path, device);
  Checkpoint c;
  c.info.model = read_string(archive, "model", path);
  c.info.network = read_string(archive, "network", path);
  c.info.settings = read_string(archive, "settings", path);
  c.info.card = read_string(archive, "card", path);
  c.info.data = read_string(archive, "data", path);
  c.version = read_string(archive, "version", path);
  c.commit = read_string(archive, "commit", path);
  c.step = read_int(archive, "step", path);
  try {
    c.net = make_network(network_from_text(c.info.network));
    c.net->to(device);
    torch::serialize::InputArchive weights;
    archive.read("weights", weights);
    c.net->load(weights);
    torch::serialize::InputArchive ema;
    if (archive.try_read("ema", ema)) {
      at::NoGradGuard no_grad;
      auto params = c.net->parameters();
      for (std::size_t i = 0; i < params.size(); ++i) {
        at::Tensor shadow;
        ema.read(std::to_string(i), shadow);
        params[i].copy_(shadow);
      }
      c.ema = true;
    }
    at::Tensor curve;
    if (archive.try_read("train_curve", curve)) c.train_curve = curve_from(curve);
    if (archive.try_read("validation_curve", curve)) c.validation_curve = curve_from(curve);
  } catch (const Error& e) {
    throw Error(detail::concat("checkpoint '", path, "': ", e.what()));
  } catch (const std::exception& e) {
    std::string why = e.what();
    throw Error(detail::concat("checkpoint '", path, "' is damaged: ", why.substr(0, why.find('\n'))));
  }
  return c;
}

}  // namespace phasegen
