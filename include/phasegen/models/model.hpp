// A generative model on massless N-body phase space: its spec, its network, N and sqrt(s), and
// what it fitted to its training data. It gives the training loss of a minibatch, samples events
// (every state of a conserving model's sampler an exact event), and saves and loads itself.
//
//   phasegen::EventSet data = phasegen::read_events("data/muon-train.pt");
//   phasegen::Model model(phasegen::ModelSpec::from_card("cards/muon-langevin-cpu.toml"), data);
//   phasegen::Trainer(model, phasegen::TrainOptions().steps(3000).checkpoint("m.ckpt")).run(data.momenta);
//   at::Tensor events = model.sample(20000, phasegen::SampleOptions().seed(3)).events;   // [20000, 3, 4]
//   phasegen::Model again = phasegen::Model::load("m.ckpt");                              // the same model
//
// Copies of a Model share one network: a Trainer trains the network of the model it was given.
#pragma once

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "phasegen/io/event_io.hpp"
#include "phasegen/models/flow.hpp"
#include "phasegen/models/nn.hpp"
#include "phasegen/models/spec.hpp"

namespace phasegen {

class ModelFamily;

/// What a model fitted to its training data beside its weights: the Gaussian prior of a flow
/// model with prior = gaussian, the momentum scale x of a p-space baseline (P / x).
struct FittedState {
  std::optional<GaussianPrior> gaussian;
  std::optional<double> momentum_scale;  ///< GeV
  std::optional<double> chain_box;       ///< the antenna-chain chart's box (prior = chain)
};

/// Where a loaded model came from: the checkpoint's record of its training.
struct ModelOrigin {
  std::string path;              ///< the checkpoint read
  std::int64_t step = 0;         ///< optimiser steps taken
  bool ema = false;              ///< whether the weights are the run's EMA weights
  std::string version, commit;   ///< of the phasegen that wrote it
  std::string card;              ///< the resolved run card ([model] and [train])
  std::string data_path;         ///< the training events
  std::int64_t data_events = 0;
  std::vector<std::pair<std::int64_t, double>> train_curve;       ///< (step, loss) at every validation
  std::vector<std::pair<std::int64_t, double>> validation_curve;  ///< (step, validation loss)
};

struct SampleOptions {
  /// Seed of the run; shard i of n draws from the stream (seed, shard, i) instead.
  TORCH_ARG(std::uint64_t, seed) = 1;
  /// Events sampled together (sets the memory used).
  TORCH_ARG(std::int64_t, batch) = 10000;
  /// CPU threads on parts of each batch, one core and single-threaded BLAS each; 0: one per CPU,
  /// at most one per kMinRowsPerWorker events of the batch. The events depend on the seed and on
  /// this count. Ignored on a GPU.
  TORCH_ARG(int, workers) = 0;
  /// With k > 0, keep the first state (pure noise), every k-th state of the sampler and the last,
  /// each as events, for the first trajectory_events events of the first batch.
  TORCH_ARG(std::int64_t, trajectory_every) = 0;
  TORCH_ARG(std::int64_t, trajectory_events) = 10000;
  /// Shard i (1..n) of a run of n shards: its share of the run's events from a stream of its own.
  TORCH_ARG(std::int64_t, shard) = 1;
  TORCH_ARG(std::int64_t, shards) = 1;
};

/// What a sampling run will do, known before it starts (for the headers of its files).
struct SamplePlan {
  std::int64_t count = 0;   ///< events sampled (this shard's share of the run)
  std::uint64_t seed = 0;   ///< the seed drawn from (the shard's)
  int workers = 1;          ///< resolved (1 on a GPU)
};

struct SampleResult {
  SamplePlan plan;
  at::Tensor events;               ///< [n, N, 4] float64 on the CPU (empty when handed to on_batch)
  std::vector<std::int64_t> trajectory_steps;  ///< the sampler's labels of the kept states
  at::Tensor trajectory;           ///< [S, m, N, 4] float64, the kept states as events
  double worst_state_violation = 0.0;  ///< worst conservation or mass violation over the kept states, / sqrt_s
  /// Events the sampler made: plan.count, or more with the spec's generator-level cut (the batch
  /// that completes the count may make a few more than it needs).
  std::int64_t drawn = 0;
  /// Of those, the events the cut dropped.
  std::int64_t cut_dropped = 0;
  /// The fraction of the drawn events the cut dropped (0 without a cut).
  double cut_fraction() const { return drawn > 0 ? static_cast<double>(cut_dropped) / static_cast<double>(drawn) : 0.0; }
  double seconds = 0.0;            ///< spent sampling (not in on_batch)
};

/// Events with the exact density of the sampler that made them (Model::sample_with_density).
struct DensityResult {
  SamplePlan plan;
  at::Tensor events;       ///< [n, N, 4] float64 on the CPU (empty when handed to on_batch)
  /// [n] float64: log of the sampler's density of each event's state over that state's density when
  /// the events are flat phase space; the weight of the event for a target F (its density relative to
  /// flat phase space) is F / exp(log_ratio), whose mean is E_flat[F] = integral F dPhi_N / Phi_N.
  at::Tensor log_ratio;
  /// [n] int64: sampler steps whose Jacobian determinant was not positive (where the density formula
  /// does not hold; 0 for every event of a sampler that is a diffeomorphism).
  at::Tensor nonpositive;
  std::int64_t nonpositive_events = 0;  ///< events with any such step
  double worst_violation = 0.0;         ///< worst conservation or mass violation of the events, / sqrt_s
  double seconds = 0.0;                 ///< spent sampling (not in on_batch)
};

class Model {
 public:
  /// A new model for events like `data` (N, sqrt(s) and PDG ids from it): its network drawn from
  /// `seed`, and what the spec fits to data (a Gaussian prior, a momentum scale) fitted to
  /// data.momenta. Throws phasegen::Error for an invalid spec.
  Model(ModelSpec spec, const EventSet& data, std::uint64_t seed = 1);
  /// A trained model from a checkpoint (EMA weights where the run kept them), on `device`. Throws a
  /// phasegen::Error for a missing, truncated, foreign or older-format file.
  static Model load(const std::string& path, const at::Device& device = at::kCPU);
  /// Writes the model (spec, data record, fitted state, weights) as a checkpoint that load() reads;
  /// it holds no optimiser state, so training cannot resume from it.
  void save(const std::string& path) const;

  /// The training events [n, N, 4] as loss() reads them, lifted once before training with `gen`
  /// (the antenna-chain chart's puts each event's particles in a drawn chain history; the others
  /// return them as given).
  at::Tensor prepare(const at::Tensor& events, at::Generator& gen) const;
  /// What prepare() does, for a run's log ("": nothing, loss() reads the events as given).
  std::string preparation() const;
  /// The training loss of a minibatch of events [b, N, 4] with the step's generator (a graph for
  /// the network's weights).
  at::Tensor loss(const at::Tensor& events, at::Generator& gen) const;
  /// Rows of a minibatch the loss couples (the OT coupling's groups; 1: a mean of per-event terms).
  std::int64_t loss_group() const;

  /// Samples `events` events (the whole run's with shards), batch by batch; with `on_batch` each
  /// batch [b, N, 4] (float64, CPU) is handed over instead of kept. Reproducible for a seed, a
  /// batch size and a worker count.
  SampleResult sample(std::int64_t events, const SampleOptions& options = {},
                      const std::function<void(const at::Tensor&)>& on_batch = {}) const;
  /// The count, seed and worker count sample(events, options) will use; throws phasegen::Error
  /// for options out of range.
  SamplePlan plan(std::int64_t events, const SampleOptions& options = {}) const;

  /// The smallest s_ij/s the sampler's events can have: the Dalitz plane's cut (its events all lie
  /// above it), 0 for every other model (a flow on all of its state space reaches every event).
  double support_cut() const;
  /// Why this model's sampler has no density that event weights can use (one sentence); "" when it has.
  std::string density_refusal() const;
  /// Samples `events` events with the exact density of the sampler that made them: the model's own
  /// sampler run in float64 throughout (a float64 copy of the network), the density the prior's
  /// minus the log-determinants of the full Jacobians of the solver's discrete steps. The spec's
  /// generator-level cut is not applied (a target's own cut gives the events below it weight 0).
  /// Seeds, batches, workers and shards as for sample(); trajectories are not kept. With `on_batch`
  /// each batch (events, log_ratio, nonpositive) is handed over instead of kept. Throws
  /// phasegen::Error with density_refusal() for a model without a density.
  DensityResult sample_with_density(
      std::int64_t events, const SampleOptions& options = {},
      const std::function<void(const at::Tensor& events, const at::Tensor& log_ratio, const at::Tensor& nonpositive)>&
          on_batch = {}) const;

  /// The same model with other sampler settings (spec of the same kind and network; the weights shared).
  Model with_spec(ModelSpec spec) const;
  /// Moves the network to `device`.
  void to(const at::Device& device);
  at::Device device() const;

  const ModelSpec& spec() const { return spec_; }
  QNetwork& network() { return net_; }
  const QNetwork& network() const { return net_; }
  std::int64_t particles() const { return particles_; }
  double sqrt_s() const { return sqrt_s_; }
  const std::vector<int>& pdg_ids() const { return pdg_ids_; }
  const FittedState& fitted() const { return fitted_; }
  /// Set for a model read by load().
  const std::optional<ModelOrigin>& origin() const { return origin_; }

  /// Whether every sampled state is an exact phase-space point.
  bool conserving() const;
  /// Network evaluations per sampled event.
  std::int64_t evaluations() const;
  /// The sampler alone, e.g. "dpmpp2m, 20 NFE, logsnr grid".
  std::string sampler_description() const;
  /// The model, its data and its network in one line.
  std::string description() const;

 private:
  Model(ModelSpec spec, std::int64_t particles, double sqrt_s, std::vector<int> pdg_ids, FittedState fitted,
        QNetwork net);
  /// Checks sqrt(s) and the spec, and builds the family the spec names.
  void build_family();

  ModelSpec spec_;
  std::int64_t particles_;
  double sqrt_s_;
  std::vector<int> pdg_ids_;
  FittedState fitted_;
  QNetwork net_;
  std::shared_ptr<const ModelFamily> family_;
  std::optional<ModelOrigin> origin_;
};

}  // namespace phasegen
