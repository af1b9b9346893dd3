#include "phasegen/training/train.hpp"

#include <torch/cuda.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <thread>

#include "phasegen/core/error.hpp"
#include "phasegen/core/parallel.hpp"
#include "phasegen/core/random.hpp"
#include "phasegen/training/checkpoint.hpp"
#include "phasegen/training/distributed.hpp"
#include "phasegen/training/workers.hpp"

namespace phasegen {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr std::int64_t kValidationBatches = 8;

// The first line where two resolved cards differ, for the message of a mismatched resume.
std::string first_difference(const std::string& stored, const std::string& expected) {
  std::istringstream sa(stored), sb(expected);
  std::string la, lb;
  while (true) {
    const bool ga = static_cast<bool>(std::getline(sa, la)), gb = static_cast<bool>(std::getline(sb, lb));
    if (!ga && !gb) return "(same lines, different layout)";
    if (!ga) la = "(nothing)";
    if (!gb) lb = "(nothing)";
    if (la != lb) return "checkpoint has '" + la + "', this run has '" + lb + "'";
  }
}

// The [model] keys that describe the network (the rest are the family's settings).
bool network_key(const std::string& key) {
  for (const char* k : {"network", "hidden", "layers", "time_embedding", "model_dim", "blocks", "heads"}) {
    if (key == k) return true;
  }
  return false;
}

// The resolved [model] table's lines of the network, or of the rest.
std::string model_lines(const ModelSpec& spec, bool network) {
  std::istringstream in(spec.to_card());
  std::string line, out;
  while (std::getline(in, line)) {
    const std::string key = line.substr(0, line.find(' '));
    if (line.empty() || line[0] == '[' || network_key(key) != network) continue;
    out += line + "\n";
  }
  return out;
}

}  // namespace

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

CardSection TrainOptions::schema() {
  return CardSection("train", {{"data", CardType::kString},
                               {"batch", CardType::kInt},
                               {"epochs", CardType::kInt},
                               {"steps", CardType::kInt},
                               {"lr", CardType::kFloat},
                               {"weight_decay", CardType::kFloat},
                               {"clip", CardType::kFloat},
                               {"warmup", CardType::kInt},
                               {"ema", CardType::kFloat},
                               {"validation_fraction", CardType::kFloat},
                               {"validate_every", CardType::kInt},
                               {"checkpoint_every", CardType::kInt},
                               {"checkpoint", CardType::kString},
                               {"seed", CardType::kInt},
                               {"device", CardType::kString},
                               {"workers", CardType::kInt}});
}

TrainOptions TrainOptions::from_card(const std::string& path) {
  CardSection table = schema();
  table.load(path, /*required=*/false);
  return from_table(table);
}

TrainOptions TrainOptions::from_table(const CardSection& t, const Launch* launch) {
  TrainOptions o;
  if (t.has("batch")) o.batch(t.get_int("batch"));
  if (t.has("epochs")) o.epochs(t.get_int("epochs"));
  if (t.has("steps")) o.steps(t.get_int("steps"));
  if (t.has("lr")) o.lr(t.get_double("lr"));
  if (t.has("weight_decay")) o.weight_decay(t.get_double("weight_decay"));
  if (t.has("clip")) o.clip(t.get_double("clip"));
  if (t.has("warmup")) o.warmup(t.get_int("warmup"));
  if (t.has("ema")) o.ema(t.get_double("ema"));
  if (t.has("validation_fraction")) o.validation_fraction(t.get_double("validation_fraction"));
  if (t.has("validate_every")) o.validate_every(t.get_int("validate_every"));
  if (t.has("checkpoint_every")) o.checkpoint_every(t.get_int("checkpoint_every"));
  if (t.has("data")) o.data(t.get_string("data"));
  if (t.has("checkpoint")) o.checkpoint(t.get_string("checkpoint"));
  if (t.has("seed")) {
    PHASEGEN_CHECK(t.get_int("seed") >= 0, "seed: expected a seed >= 0, but got ", t.get_int("seed"));
    o.seed(static_cast<std::uint64_t>(t.get_int("seed")));
  }
  // Several processes train on the CPU (Gloo): there "auto" means the CPU.
  const std::string device = t.has("device") ? t.get_string("device") : "auto";
  o.device(launch != nullptr && device == "auto" ? at::Device(at::kCPU) : device_from_name(device));
  const std::int64_t workers = t.has("workers") ? t.get_int("workers") : 0;
  PHASEGEN_CHECK(workers >= 0, "workers: expected a worker count >= 0 (0: one per CPU), but got ", workers);
  o.workers(o.device().is_cpu()
                ? resolve_workers(static_cast<int>(workers), o.batch(), launch != nullptr ? launch->local_size : 1)
                : 1);
  return o;
}

CardSection TrainOptions::to_table() const {
  CardSection t = schema();
  t.set("data", data_);
  t.set("batch", batch_);
  t.set("epochs", epochs_);
  t.set("steps", steps_);
  t.set("lr", lr_);
  t.set("weight_decay", weight_decay_);
  t.set("clip", clip_);
  t.set("warmup", warmup_);
  t.set("ema", ema_);
  t.set("validation_fraction", validation_fraction_);
  t.set("validate_every", validate_every_);
  t.set("checkpoint_every", checkpoint_every_);
  t.set("checkpoint", checkpoint_);
  t.set("seed", static_cast<std::int64_t>(seed_));
  t.set("device", std::string(device_.is_cpu() ? "cpu" : "cuda"));
  t.set("workers", std::int64_t{workers_});
  return t;
}

void TrainOptions::validate() const {
  PHASEGEN_CHECK(batch_ >= 1, "batch: expected a batch size >= 1, but got ", batch_);
  PHASEGEN_CHECK(steps_ > 0 || epochs_ > 0, "epochs: expected epochs >= 1 or steps >= 1, but got epochs = ", epochs_,
                 ", steps = ", steps_);
  PHASEGEN_CHECK(lr_ > 0 && std::isfinite(lr_), "lr: expected a positive learning rate, but got ", lr_);
  PHASEGEN_CHECK(weight_decay_ >= 0, "weight_decay: expected >= 0, but got ", weight_decay_);
  PHASEGEN_CHECK(clip_ >= 0, "clip: expected >= 0, but got ", clip_);
  PHASEGEN_CHECK(warmup_ >= 0, "warmup: expected >= 0, but got ", warmup_);
  PHASEGEN_CHECK(ema_ >= 0 && ema_ < 1, "ema: expected a decay in [0, 1), but got ", ema_);
  PHASEGEN_CHECK(validation_fraction_ >= 0 && validation_fraction_ < 1,
                 "validation_fraction: expected a fraction in [0, 1), but got ", validation_fraction_);
  PHASEGEN_CHECK(validate_every_ >= 1 && checkpoint_every_ >= 1,
                 "validate_every and checkpoint_every: expected >= 1, but got ", validate_every_, " and ",
                 checkpoint_every_);
  PHASEGEN_CHECK(!checkpoint_.empty(), "checkpoint: expected a checkpoint path");
  PHASEGEN_CHECK(workers_ >= 1, "workers: expected a worker count >= 1, but got ", workers_);
  PHASEGEN_CHECK(!processes_ || device_.is_cpu(), "device = ", device_,
                 ": training on several processes runs on the CPU in this version (Gloo); use device = cpu, or one "
                 "process per run on a GPU");
}

Trainer::Trainer(Model model, TrainOptions options) : model_(std::move(model)), options_(std::move(options)) {
  options_.validate();
  model_.to(options_.device());
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      model_.network()->parameters(), torch::optim::AdamWOptions(options_.lr()).weight_decay(options_.weight_decay()));
  if (options_.ema() > 0) {
    at::NoGradGuard no_grad;
    for (const auto& p : model_.network()->parameters()) ema_.push_back(p.detach().clone());
  }
}

std::int64_t Trainer::total_steps(std::int64_t train_events) const {
  if (options_.steps() > 0) return options_.steps();
  return options_.epochs() * std::max<std::int64_t>(1, train_events / (options_.batch() * process_count()));
}

int Trainer::rank() const { return options_.processes() ? options_.processes()->rank() : 0; }

int Trainer::process_count() const { return options_.processes() ? options_.processes()->size() : 1; }

double Trainer::learning_rate(std::int64_t step, std::int64_t total) const {
  if (step < options_.warmup()) return options_.lr() * static_cast<double>(step + 1) / static_cast<double>(options_.warmup());
  const double span = static_cast<double>(std::max<std::int64_t>(1, total - options_.warmup()));
  const double progress = static_cast<double>(step - options_.warmup()) / span;
  return options_.lr() * 0.5 * (1.0 + std::cos(kPi * std::min(1.0, progress)));
}

void Trainer::save_checkpoint() const {
  CheckpointRecord r;
  r.card = model_.spec().to_card() + "\n" + options_.to_table().to_toml();
  r.data_path = options_.data();
  r.data_events = data_events_;
  r.particles = model_.particles();
  r.sqrt_s = model_.sqrt_s();
  r.pdg_ids = model_.pdg_ids();
  r.fitted = model_.fitted();
  r.step = step_;
  r.seed = options_.seed();
  r.train_curve = curves_.train_curve;
  r.validation_curve = curves_.validation_curve;
  write_checkpoint(options_.checkpoint(), r, *model_.network(), ema_, optimizer_.get());
}

void Trainer::resume() {
  const std::string& path = options_.checkpoint();
  CheckpointReader in(path, options_.device());
  const CheckpointRecord& r = in.record();
  const ModelSpec stored = ModelSpec::from_card_text(r.card, path);
  for (const bool network : {true, false}) {
    const std::string a = model_lines(stored, network), b = model_lines(model_.spec(), network);
    PHASEGEN_CHECK(a == b, "checkpoint '", path, "' is from another model: its ", network ? "network" : "settings",
                   " differ", network ? "s" : "", " (", first_difference(a, b), ")");
  }
  PHASEGEN_CHECK(r.particles == model_.particles() && r.sqrt_s == model_.sqrt_s(), "checkpoint '", path,
                 "' is from another model: it was trained on N = ", r.particles, ", sqrt_s = ", r.sqrt_s,
                 " GeV, but this run's data have N = ", model_.particles(), ", sqrt_s = ", model_.sqrt_s(), " GeV");
  PHASEGEN_CHECK(r.seed == options_.seed(), "checkpoint '", path, "' was trained with seed ", r.seed,
                 ", but this run has seed ", options_.seed(), ": resuming would not repeat the run");
  in.load_weights(*model_.network(), /*ema=*/false);
  if (!ema_.empty()) {
    std::vector<at::Tensor> shadow;
    PHASEGEN_CHECK(in.load_ema(shadow) && shadow.size() == ema_.size(), "checkpoint '", path,
                   "' has no EMA weights, but this run keeps them");
    at::NoGradGuard no_grad;
    for (std::size_t i = 0; i < ema_.size(); ++i) ema_[i].copy_(shadow[i]);
  }
  in.load_optimizer(*optimizer_);
  curves_.train_curve = r.train_curve;
  curves_.validation_curve = r.validation_curve;
  step_ = r.step;
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
                                   ? detail::concat("The last good checkpoint, '", options_.checkpoint(), "' (step ",
                                                    last_good_checkpoint_, "), is kept")
                                   : std::string("No checkpoint was written yet"),
                               "; try a lower lr or clip"));
  }
  return value[losses.numel() - 1];
}

double Trainer::validation_loss(const at::Tensor& events) {
  at::Generator gen = stream_generator(options_.seed(), Stream::kTrainValidation, 0, options_.device());
  double sum = 0.0;
  std::int64_t batches = 0;
  const std::int64_t size = options_.batch() * process_count();  // the minibatch of all processes
  for (std::int64_t start = 0; start < events.size(0) && batches < kValidationBatches; start += size) {
    at::Tensor batch = events.narrow(0, start, std::min(size, events.size(0) - start));
    sum += model_.loss(batch, gen).item<double>();
    ++batches;
  }
  return batches > 0 ? sum / static_cast<double>(batches) : std::numeric_limits<double>::quiet_NaN();
}

at::Tensor Trainer::step_gradient(const at::Tensor& batch, std::int64_t minibatch) {
  const at::Device device = options_.device();
  const auto step = static_cast<std::uint64_t>(step_);
  at::Generator step_gen = stream_generator(options_.seed(), Stream::kTrainStep, step, device);
  const int workers = device.is_cpu() ? options_.workers() : 1;
  // Part k of rank r is part r x workers + k of the minibatch: the same stream as in one process.
  const auto parts = static_cast<std::uint64_t>(process_count()) * static_cast<std::uint64_t>(workers);
  const auto first_part = static_cast<std::uint64_t>(rank()) * static_cast<std::uint64_t>(workers);
  const Model& model = model_;
  return loss_and_gradients(
      model_.network()->parameters(), [&model](const at::Tensor& events, at::Generator& gen) { return model.loss(events, gen); },
      batch, step_gen, workers, model_.loss_group(),
      [&](int part) {
        return stream_generator(options_.seed(), Stream::kTrainStepPart,
                                step * parts + first_part + static_cast<std::uint64_t>(part), device);
      },
      minibatch);
}

void Trainer::update_ema() {
  if (ema_.empty()) return;
  at::NoGradGuard no_grad;
  const auto params = model_.network()->parameters();
  for (std::size_t i = 0; i < ema_.size(); ++i) ema_[i].mul_(options_.ema()).add_(params[i].detach(), 1.0 - options_.ema());
}

namespace {

// Events the family's one-off lift takes at a time between looks at a stop request.
constexpr std::int64_t kPreparePart = 20000;

}  // namespace

TrainResult Trainer::run(const at::Tensor& events, const std::function<void(const StepReport&)>& on_step,
                         const std::function<bool()>& should_stop) {
  PHASEGEN_CHECK(events.dim() == 3 && events.size(2) == 4 && events.size(1) == model_.particles(),
                 "training data: expected events [n, ", model_.particles(), ", 4], but got ", events.sizes());
  const std::int64_t n = events.size(0);
  data_events_ = n;
  std::int64_t n_validation = static_cast<std::int64_t>(options_.validation_fraction() * static_cast<double>(n));
  if (options_.validation_fraction() > 0 && n_validation == 0 && n >= 2) n_validation = 1;
  const at::Device device = options_.device();
  // Split and minibatch order come from CPU generators: the same on every device.
  at::Generator split_gen = stream_generator(options_.seed(), Stream::kTrainSplit, 0);
  const at::Tensor order = at::randperm(n, split_gen, at::kLong).to(device);
  // The family's one-off lift of the events, in parts, so that a stop request ends it early.
  at::Tensor all = events;
  if (!model_.preparation().empty()) {
    at::Generator prepare_gen = stream_generator(options_.seed(), Stream::kTrainPrepare, 0);
    std::vector<at::Tensor> parts;
    for (std::int64_t start = 0; start < n; start += kPreparePart) {
      if (should_stop && should_stop()) {
        curves_.interrupted = true;
        curves_.steps_done = step_;
        return curves_;
      }
      parts.push_back(model_.prepare(events.narrow(0, start, std::min(kPreparePart, n - start)), prepare_gen));
    }
    all = at::cat(parts, 0);
  }
  all = all.to(device);
  const at::Tensor validation = all.index_select(0, order.narrow(0, 0, n_validation));
  const at::Tensor train = all.index_select(0, order.narrow(0, n_validation, n - n_validation));
  const std::int64_t n_train = train.size(0);
  // With R processes a minibatch has R x batch rows, rank r taking the r-th share.
  const int ranks = process_count(), rank_index = rank();
  const std::int64_t minibatch = options_.batch() * ranks;
  PHASEGEN_CHECK(minibatch <= n_train, "batch: expected a batch of at most the ", n_train,
                 " training events (after holding out ", n_validation, " for validation)",
                 ranks > 1 ? detail::concat(", over ", ranks, " processes") : std::string(), ", but got ",
                 ranks > 1 ? detail::concat(ranks, " x ", options_.batch()) : std::to_string(options_.batch()));
  const std::int64_t per_epoch = n_train / minibatch;
  if (options_.processes()) {
    std::vector<at::Tensor> weights = model_.network()->parameters();
    weights.insert(weights.end(), ema_.begin(), ema_.end());
    broadcast_from_rank_zero(*options_.processes(), weights);
  }
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
      at::Generator epoch_gen = stream_generator(options_.seed(), Stream::kTrainEpoch, static_cast<std::uint64_t>(epoch));
      permutation = at::randperm(n_train, epoch_gen, at::kLong).to(device);
      permutation_epoch = epoch;
    }
    const at::Tensor batch = train.index_select(
        0, permutation.narrow(0, position * minibatch + rank_index * options_.batch(), options_.batch()));
    const double lr = learning_rate(step_, total);
    for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    optimizer_->zero_grad();
    at::Tensor loss = step_gradient(batch, minibatch);
    // Several processes stop together: a request seen after one step travels with the next step's
    // gradients, and every rank stops after that step.
    const bool stop_everywhere = options_.processes()
                                     ? all_reduce_step(*options_.processes(), model_.network()->parameters(), loss, stop_asked)
                                     : stop_asked;
    // Read (and checked) before this step's update: every step on the CPU, where it costs nothing;
    // on a GPU, where a read waits for the device, every kLossReadEvery steps and before every
    // validation and checkpoint, so that no checkpoint holds an update from a non-finite loss.
    const std::int64_t next = step_ + 1;
    if (unread_losses_.empty()) unread_from_ = next;
    unread_losses_.push_back(loss);
    if (device.is_cpu() || next % kLossReadEvery == 0 || next % options_.validate_every() == 0 ||
        next % options_.checkpoint_every() == 0 || next == total) {
      loss_value = read_losses();
    }
    if (options_.clip() > 0) clip_gradients(model_.network()->parameters(), options_.clip());
    optimizer_->step();
    update_ema();
    ++step_;
    const bool last = step_ == total;
    if (step_ % options_.validate_every() == 0 || last) {
      // Rank 0 alone: the others hold the same weights and write no checkpoint.
      last_validation = n_validation > 0 && rank_index == 0 ? validation_loss(validation)
                                                             : std::numeric_limits<double>::quiet_NaN();
      result.train_curve.emplace_back(step_, loss_value);
      result.validation_curve.emplace_back(step_, last_validation);
    }
    if (on_step) on_step({step_, total, loss_value, lr, last_validation});
    stop_asked = should_stop && should_stop();
    const bool stop = ranks > 1 ? stop_everywhere : stop_asked;
    if (step_ % options_.checkpoint_every() == 0 || last || stop) {
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

}  // namespace phasegen
