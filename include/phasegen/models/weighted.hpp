// Weighted and unweighted events of a flow model against a target whose density relative to flat
// phase space is known: each event's weight from the exact density of the sampler that made it.
//
//   phasegen::TargetSpec qqg;  qqg.kind = phasegen::TargetKind::kQqg;  qqg.msq = 1e-3;
//   auto density = [&](const at::Tensor& p) { return phasegen::target_density(qqg, p); };
//   phasegen::WeightedSample s = phasegen::sample_weighted(model, 10000, density, phasegen::phase_space_volume(3, 1.0),
//                                                          phasegen::SampleOptions().seed(3),
//                                                          phasegen::WeightedSampleOptions().unweight(true));
//   // s.events [10000, 3, 4], s.weights [10000] (1 but for over-weights), s.summary.integral +- s.summary.error
//
// The physics and its formulas: docs/PHYSICS.md section 10.
#pragma once

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <functional>
#include <string>

#include "phasegen/eval/weights.hpp"
#include "phasegen/models/model.hpp"
#include "phasegen/physics/targets.hpp"

namespace phasegen {

/// A target's density relative to flat phase space, F(events [n, N, 4]) -> [n] (>= 0).
using TargetDensity = std::function<at::Tensor(const at::Tensor& events)>;

struct WeightedSampleOptions {
  /// Accept / reject each event with probability min(1, w / w_max) against the largest weight w_max
  /// of a first pass; an accepted event with w > w_max (an over-weight) keeps the weight w / w_max.
  TORCH_ARG(bool, unweight) = false;
  /// Events of that first pass (0: as many as asked for).
  TORCH_ARG(std::int64_t, first_pass) = 0;
};

struct WeightedSample {
  at::Tensor events;   ///< [E, N, 4] float64, CPU: the first E events of non-zero weight (accepted, unweighting)
  /// [E] float64. Weighted: volume x w x (the non-zero fraction of the draws), so that their mean is
  /// the integral. Unweighted: 1, or w / w_max for an over-weight event.
  at::Tensor weights;
  /// The weights of every draw of the run (both passes, zeros included) scaled by the volume: its
  /// integral +- error is the run's cross section.
  WeightSummary summary;
  std::int64_t drawn = 0;        ///< events the sampler made, both passes
  std::int64_t zero = 0;         ///< of them of weight 0 (outside the target; never written)
  std::int64_t first_pass = 0;   ///< events of the first pass (unweighting)
  double max_weight = 0.0;       ///< w_max of the first pass (unweighting), in units of w
  std::int64_t trials = 0;       ///< events offered to accept / reject (unweighting)
  double acceptance = 0.0;       ///< E / trials: the unweighting efficiency reached (unweighting)
  std::int64_t overweights = 0;  ///< accepted events with w > w_max (unweighting)
  std::int64_t nonpositive_events = 0;  ///< draws with a sampler step of non-positive Jacobian determinant
  double worst_violation = 0.0;  ///< worst conservation or mass violation of the draws, / sqrt_s
  double seconds = 0.0;          ///< sampling, both passes
};

/// `events` weighted (or, with unweight, unweighted) events of `model` for the target `density`, with
/// `volume` the phase-space volume Phi_N the weights are scaled by. Draws go through
/// Model::sample_with_density in rounds until enough events of non-zero weight (accepted ones) are
/// made; round 0 uses options.seed(), round r the stream (seed, kWeightedRound, r). `on_progress`
/// sees the count kept so far after every batch (it may throw to stop the run). Throws
/// phasegen::Error for a model without a density, weights that are not finite or negative, or a
/// target that gives every one of the first draws weight 0.
WeightedSample sample_weighted(const Model& model, std::int64_t events, const TargetDensity& density, double volume,
                               const SampleOptions& options = {}, const WeightedSampleOptions& weighting = {},
                               const std::function<void(std::int64_t kept)>& on_progress = {});

/// A target named to weigh a model's events by, its settings left 0 where the model's own apply.
struct TargetRequest {
  std::string target;          ///< uniform, muon or qqg
  double sqrt_s = 0.0;         ///< GeV; 0: the model's (must equal it)
  std::int64_t particles = 0;  ///< uniform: N; 0: the model's (must equal it)
  double msq = 0.0;            ///< qqg: the cut s_ij/s >= msq; 0: the model's support cut
  bool symmetrize = false;     ///< qqg: averaged over the particle orders
};

/// The target `request` names, completed from `model` and checked against it: a closed-form density
/// (not aps), the model's N and sqrt(s), and no weight where the model makes no events. `what` names
/// the target in messages ("--weights", "target="), `name_of` a setting's key ("sqrt_s", "msq") as the
/// user gave it. Throws phasegen::Error otherwise.
TargetSpec resolve_target(const TargetRequest& request, const Model& model, const std::string& what,
                          const std::function<std::string(const std::string&)>& name_of);

/// The unit of the integral of a target's density over phase space: GeV^(2N - 4) times the density's.
std::string target_integral_unit(const TargetSpec& spec);

}  // namespace phasegen
