// The training engine shared by every model: AdamW with weight decay and gradient clipping, a
// cosine learning rate with warm-up, EMA weights, a held-out validation split, atomic checkpoints
// and exact resumption.
//
//   phasegen::Trainer trainer(net, loss_fn, options, info);
//   phasegen::TrainResult r = trainer.run(events, on_step);   // events [n, N, 4] float64
//
// Every step's randomness (minibatch order, lift, diffusion times and noise) is drawn from
// generators seeded by (seed, epoch) and (seed, step), so a run resumed from a checkpoint repeats
// the losses of an uninterrupted one exactly (same machine and thread count).
#pragma once

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "phasegen/nn.hpp"

namespace phasegen {

class ProcessGroup;

struct TrainOptions {
  std::int64_t batch = 1024;
  std::int64_t epochs = 100;           ///< used when steps == 0
  std::int64_t steps = 0;              ///< total optimiser steps; overrides epochs when > 0
  double lr = 1e-3;
  double weight_decay = 1e-4;
  double clip = 1.0;                   ///< gradient-norm clip (0: none)
  std::int64_t warmup = 0;             ///< linear warm-up steps before the cosine decay
  double ema = 0.0;                    ///< EMA decay of the weights (0: no EMA)
  double validation_fraction = 0.05;   ///< held-out share of the events
  std::int64_t validate_every = 500;   ///< steps between validation losses (and at the end)
  std::int64_t checkpoint_every = 1000;
  std::string checkpoint;              ///< path of the checkpoint file
  std::uint64_t seed = 1;
  /// Where the network, the data and every random stream live. On a CUDA device the loss is read
  /// back every kLossReadEvery steps (and before every validation and checkpoint), not every step.
  at::Device device = at::kCPU;
  /// CPU threads that compute parts of each minibatch side by side, one core and single-threaded
  /// BLAS each (see loss_and_gradients); 1: one thread, the BLAS library's own threads under it.
  /// Ignored on a GPU. A run depends on the seed and on this count.
  int workers = 1;
  /// Rows of a minibatch the loss couples (the OT coupling's groups; 1 for a loss per example):
  /// the parts of a worker split are multiples of it, so that the split changes no coupling.
  std::int64_t loss_group = 1;
  /// The processes of a data-parallel run (distributed.hpp); null: this process alone. Each of the
  /// R processes takes `batch` rows of every minibatch of R x batch (rank r the r-th share of the
  /// epoch's order), the gradients are summed over the processes, and rank 0 alone validates and
  /// writes checkpoints. Every rank's random streams are the worker parts it would be in one
  /// process with R x workers workers: R processes of W workers train exactly as one process with
  /// batch R x batch and R x W workers.
  std::shared_ptr<ProcessGroup> processes;

  void validate() const;
};

inline constexpr std::int64_t kLossReadEvery = 25;

/// Scales the gradients of `parameters` to a total 2-norm of at most max_norm, with the operations
/// of torch::nn::utils::clip_grad_norm_ (so the same numbers), but without reading the norm back to
/// the host, which would wait for a GPU every step.
void clip_gradients(const std::vector<at::Tensor>& parameters, double max_norm);

/// "cpu", "cuda" (the first GPU; an error naming the cause where none can be used) or "auto"
/// (cuda where LibTorch has CUDA and a GPU is visible, else cpu).
at::Device device_from_name(const std::string& name);

/// What a checkpoint says about the model besides its weights; checked on resume and sampling.
struct ModelInfo {
  std::string model;       ///< model family, e.g. "langevin"
  std::string network;     ///< NetworkOptions as "key = value" lines
  std::string settings;    ///< the model's other settings as "key = value" lines
  std::string card;        ///< the resolved run card
  std::string data;        ///< training data: path, N, sqrt_s, PDG ids
};

/// Loss of a minibatch of events [batch, N, 4] float64 with the step's random generator.
using LossFunction = std::function<at::Tensor(QNetworkImpl& net, const at::Tensor& events, at::Generator& gen)>;

/// The minibatch loss (detached) after accumulating its gradient into the parameters' .grad. With
/// workers > 1 the rows are split into up to `workers` contiguous parts, multiples of `group` rows,
/// computed side by side on threads of their own (run_in_parts): part k draws from its own stream
/// part_generator(k), its loss is weighted by its share of the rows, and the parts' gradients are
/// summed, in part order, into .grad: the gradient of the minibatch's mean loss. One part (workers
/// 1, or too few rows) is loss(net, events, gen) and its backward pass, nothing else.
/// `batch_rows` > 0 says the events are a share of a minibatch of that many rows (the rest on other
/// processes): the parts are weighted by their share of batch_rows, and even one part draws from
/// part_generator(0), so that the processes' sums make the minibatch's mean.
at::Tensor loss_and_gradients(QNetworkImpl& net, const LossFunction& loss, const at::Tensor& events,
                              at::Generator& gen, int workers, std::int64_t group,
                              const std::function<at::Generator(int part)>& part_generator,
                              std::int64_t batch_rows = 0);

/// Progress after each step: step (1-based), total steps, training loss, learning rate, and the
/// latest validation loss (NaN before the first).
struct StepReport {
  std::int64_t step;
  std::int64_t total;
  double loss;
  double lr;
  double validation_loss;
};

struct TrainResult {
  std::int64_t steps_done = 0;
  bool interrupted = false;
  double last_loss = 0.0;
  double last_validation_loss = 0.0;
  std::vector<std::pair<std::int64_t, double>> train_curve;       ///< (step, loss) at every validation
  std::vector<std::pair<std::int64_t, double>> validation_curve;  ///< (step, validation loss)
};

class Trainer {
 public:
  Trainer(std::shared_ptr<QNetworkImpl> net, LossFunction loss, TrainOptions options, ModelInfo info);

  /// Continues from the checkpoint at options.checkpoint (weights, EMA, optimiser, step, curves),
  /// after checking it belongs to the same model. Throws a phasegen::Error naming the mismatch.
  void resume();

  /// Trains on `events` up to the total number of steps. `should_stop` is polled after every step:
  /// when it returns true a checkpoint is written and the run returns with interrupted = true. With
  /// several processes every rank stops after the step following the first request on any rank.
  TrainResult run(const at::Tensor& events, const std::function<void(const StepReport&)>& on_step = {},
                  const std::function<bool()>& should_stop = {});

  /// Steps of the run: options.steps, or the epochs' worth of minibatches of batch x processes.
  std::int64_t total_steps(std::int64_t train_events) const;
  std::int64_t step() const { return step_; }

 private:
  void save_checkpoint() const;
  double learning_rate(std::int64_t step, std::int64_t total) const;
  double validation_loss(const at::Tensor& events);
  /// Reads the losses of the steps since the last read; throws for a non-finite one, naming its step.
  double read_losses();
  /// With several processes: makes every rank's gradients and loss their sums over the ranks, and
  /// says whether any rank asked to stop. One process: returns `stop`.
  bool reduce_over_processes(at::Tensor& loss, bool stop);
  /// With several processes: every rank takes rank 0's weights (and EMA weights).
  void take_weights_of_rank_zero();
  int rank() const;
  int process_count() const;

  std::shared_ptr<QNetworkImpl> net_;
  LossFunction loss_;
  TrainOptions options_;
  ModelInfo info_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<at::Tensor> ema_;
  std::int64_t step_ = 0;
  TrainResult curves_;
  std::vector<at::Tensor> unread_losses_;  ///< losses of steps unread_from_, unread_from_ + 1, ..., on the device
  std::int64_t unread_from_ = 0;
  std::int64_t last_good_checkpoint_ = -1;
};

/// A trained model read back from a checkpoint: its information, network (EMA weights when the
/// run kept them) and the step it reached. Throws a phasegen::Error for a missing, truncated or
/// foreign file.
struct Checkpoint {
  ModelInfo info;
  std::shared_ptr<QNetworkImpl> net;
  std::int64_t step = 0;
  bool ema = false;
  std::string version;
  std::string commit;
  std::vector<std::pair<std::int64_t, double>> train_curve;       ///< (step, loss) at every validation
  std::vector<std::pair<std::int64_t, double>> validation_curve;  ///< (step, validation loss)
};
/// The network comes back on `device`.
Checkpoint load_checkpoint(const std::string& path, const at::Device& device = at::kCPU);

/// "key = value" lines, and back (values on one line).
std::string to_key_values(const std::vector<std::pair<std::string, std::string>>& entries);
std::string key_value(const std::string& text, const std::string& key);
/// The value of `key`, or `fallback` where the text has no such line (settings of older checkpoints).
std::string key_value_or(const std::string& text, const std::string& key, const std::string& fallback);
/// Whether the text has a line for `key`.
bool has_key_value(const std::string& text, const std::string& key);

/// NetworkOptions as key = value lines, and back.
std::string network_to_text(const NetworkOptions& options);
NetworkOptions network_from_text(const std::string& text);

}  // namespace phasegen
