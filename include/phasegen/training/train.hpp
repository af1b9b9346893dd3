// Training a model: AdamW with weight decay and gradient clipping, a cosine learning rate with
// warm-up, EMA weights, a held-out validation split, atomic checkpoints and exact resumption.
//
//   phasegen::Model model(phasegen::ModelSpec::from_card(card), data);
//   phasegen::Trainer trainer(model, phasegen::TrainOptions::from_card(card));
//   phasegen::TrainResult r = trainer.run(data.momenta);   // trains model's network in place
//
// Every step's randomness (minibatch order, lift, diffusion times and noise) is drawn from the
// streams (seed, purpose, index) of core/random.hpp, so a run resumed from a checkpoint repeats
// the losses of an uninterrupted one exactly (same machine, thread and worker count).
#pragma once

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "phasegen/io/card.hpp"
#include "phasegen/models/model.hpp"

namespace phasegen {

class ProcessGroup;
struct Launch;

struct TrainOptions {
  /// The [train] table's keys and their types.
  static CardSection schema();
  /// The [train] table of a run card (defaults where the card has none), the device and the
  /// worker count resolved; checked when a Trainer takes the options (validate). With `launch`
  /// (several processes), device = auto means the CPU and the automatic worker count shares the
  /// machine's CPUs among its processes.
  static TrainOptions from_card(const std::string& path);
  static TrainOptions from_table(const CardSection& table, const Launch* launch = nullptr);
  /// The resolved [train] table (the device and the worker count as resolved).
  CardSection to_table() const;
  void validate() const;

  TORCH_ARG(std::int64_t, batch) = 1024;
  TORCH_ARG(std::int64_t, epochs) = 100;           ///< used when steps == 0
  TORCH_ARG(std::int64_t, steps) = 0;              ///< total optimiser steps; overrides epochs when > 0
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(double, weight_decay) = 1e-4;
  TORCH_ARG(double, clip) = 1.0;                   ///< gradient-norm clip (0: none)
  TORCH_ARG(std::int64_t, warmup) = 0;             ///< linear warm-up steps before the cosine decay
  TORCH_ARG(double, ema) = 0.0;                    ///< EMA decay of the weights (0: no EMA)
  TORCH_ARG(double, validation_fraction) = 0.05;   ///< held-out share of the events
  TORCH_ARG(std::int64_t, validate_every) = 500;   ///< steps between validation losses (and at the end)
  TORCH_ARG(std::int64_t, checkpoint_every) = 1000;
  TORCH_ARG(std::string, checkpoint);              ///< path of the checkpoint file
  TORCH_ARG(std::string, data);                    ///< path of the training events, recorded in checkpoints
  TORCH_ARG(std::uint64_t, seed) = 1;
  /// Where the network, the data and every random stream live. On a CUDA device the loss is read
  /// back every kLossReadEvery steps (and before every validation and checkpoint), not every step.
  TORCH_ARG(at::Device, device) = at::kCPU;
  /// CPU threads that compute parts of each minibatch side by side, one core and single-threaded
  /// BLAS each (see loss_and_gradients); 1: one thread, the BLAS library's own threads under it.
  /// Ignored on a GPU. A run depends on the seed and on this count.
  TORCH_ARG(int, workers) = 1;
  /// The processes of a data-parallel run (distributed.hpp); null: this process alone. Each of the
  /// R processes takes `batch` rows of every minibatch of R x batch (rank r the r-th share of the
  /// epoch's order), the gradients are summed over the processes, and rank 0 alone validates and
  /// writes checkpoints. Every rank's random streams are the worker parts it would be in one
  /// process with R x workers workers: R processes of W workers train exactly as one process with
  /// batch R x batch and R x W workers.
  TORCH_ARG(std::shared_ptr<ProcessGroup>, processes);
};

inline constexpr std::int64_t kLossReadEvery = 25;

/// "cpu", "cuda" (the first GPU; an error naming the cause where none can be used) or "auto"
/// (cuda where LibTorch has CUDA and a GPU is visible, else cpu).
at::Device device_from_name(const std::string& name);

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
  /// Trains the network of `model` (shared with the caller's copy) on the options' device.
  Trainer(Model model, TrainOptions options);

  /// Continues from the checkpoint at options.checkpoint (weights, EMA, optimiser, step, curves),
  /// after checking it belongs to the same model. Throws a phasegen::Error naming the mismatch.
  void resume();

  /// Trains on `events` up to the total number of steps, after the model's one-off lift of them
  /// (Model::prepare, in parts). `should_stop` is polled after every step: when it returns true a
  /// checkpoint is written and the run returns with interrupted = true (polled during the lift too,
  /// where a stop returns before any step and writes nothing). With
  /// several processes every rank stops after the step following the first request on any rank.
  TrainResult run(const at::Tensor& events, const std::function<void(const StepReport&)>& on_step = {},
                  const std::function<bool()>& should_stop = {});

  /// Steps of the run: options.steps, or the epochs' worth of minibatches of batch x processes.
  std::int64_t total_steps(std::int64_t train_events) const;
  std::int64_t step() const { return step_; }
  const Model& model() const { return model_; }
  const TrainOptions& options() const { return options_; }

 private:
  /// The gradient of one minibatch, over the workers (and with the other processes' shares).
  at::Tensor step_gradient(const at::Tensor& batch, std::int64_t minibatch);
  void update_ema();
  void save_checkpoint() const;
  double learning_rate(std::int64_t step, std::int64_t total) const;
  double validation_loss(const at::Tensor& events);
  /// Reads the losses of the steps since the last read; throws for a non-finite one, naming its step.
  double read_losses();
  int rank() const;
  int process_count() const;

  Model model_;
  TrainOptions options_;
  std::int64_t data_events_ = 0;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<at::Tensor> ema_;
  std::int64_t step_ = 0;
  TrainResult curves_;
  std::vector<at::Tensor> unread_losses_;  ///< losses of steps unread_from_, unread_from_ + 1, ..., on the device
  std::int64_t unread_from_ = 0;
  std::int64_t last_good_checkpoint_ = -1;
};

}  // namespace phasegen
