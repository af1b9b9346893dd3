// The model families, the engines a phasegen::Model runs: each turns a minibatch of events into
// its training loss and a trained network into events, and knows how events enter and leave its
// state space. A Model builds the family its spec names; build one directly to assemble a model
// a run card cannot describe (tests do).
//
//   phasegen::VpFamily vp(phasegen::VpOptions(), phasegen::StateSpace::latent(phasegen::LiftOptions::random(), 1.0));
//   at::Tensor loss = vp.loss(*net, events, gen);                 // events [b, N, 4]
//   at::Tensor p = vp.sample(*net, 10000, 3, gen);                // [10000, 3, 4], exact events
//
// Families: LangevinFamily, the paper's q-space diffusion; FlowFamily, flow matching in q-space,
// z-space or p-space; VpFamily, the variance-preserving diffusion in z-space or p-space. The
// p-space variants are the paper's baselines and the only ones that do not conserve.
//
// The physics and its formulas: docs/PHYSICS.md.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "phasegen/models/chain.hpp"
#include "phasegen/models/dalitz.hpp"
#include "phasegen/models/diffusion.hpp"
#include "phasegen/models/flow.hpp"
#include "phasegen/models/space.hpp"
#include "phasegen/models/vp.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen {

class ModelFamily {
 public:
  /// Called with (step label, events [n, N, 4] float64) along the sampling path.
  using EventCallback = std::function<void(std::int64_t step, const at::Tensor& events)>;

  /// Sampled events with the exact density of the sampler that made them (sample_with_density).
  struct DensitySample {
    at::Tensor events;       ///< [b, N, 4] float64
    /// [b] float64: log of the sampler's density of each event's state over the density the same
    /// state has when the events are flat phase space (the reference: p_ref in q-space, N(0, I) in
    /// z-space, the chart's Jacobian on a chart). A target of density F relative to flat phase
    /// space weighs the event w = F / exp(log_ratio), and E[w] = E_flat[F] exactly.
    at::Tensor log_ratio;
    at::Tensor nonpositive;  ///< [b] int64: sampler steps whose Jacobian determinant was not positive
  };

  virtual ~ModelFamily() = default;
  /// The training events [n, N, 4] as the family's loss reads them, lifted once before training
  /// with `gen`: the same events, for a family that reads them in an order of their particles put
  /// in an order drawn for each.
  virtual at::Tensor prepare(const at::Tensor& events, at::Generator& /*gen*/) const { return events; }
  /// What prepare does, for the run's log ("": nothing, the events are read as given).
  virtual std::string preparation() const { return {}; }
  /// The training loss of a minibatch of events [b, N, 4] (any floating type), encoded into the
  /// family's state with `gen`.
  virtual at::Tensor loss(QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) const = 0;
  /// Rows of a minibatch its loss couples (1: a mean of per-event terms).
  virtual std::int64_t loss_group() const { return 1; }
  /// Samples events [batch, N, 4] float64. With every > 0, `on_events` sees the events of the first
  /// state (pure noise), of every `every`-th state and of the last. Labels: the diffusion step t for
  /// langevin (T first, 0 last), the sampler step for flow and vp (0 first, S last).
  virtual at::Tensor sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                            std::int64_t every = 0, const EventCallback& on_events = {}) const = 0;
  /// Label of the last state: 0 for langevin, S for flow and vp.
  virtual std::int64_t last_step() const = 0;
  /// Network evaluations per sampled event.
  virtual std::int64_t evaluations() const = 0;
  /// Whether every sampled state is an exact phase-space point.
  virtual bool conserving() const = 0;
  virtual double sqrt_s() const = 0;
  /// The sampler alone, e.g. "dpmpp2m, 20 NFE, logsnr grid".
  virtual std::string sampler_description() const = 0;
  virtual std::string description() const = 0;
  /// Why this family's sampler has no density that event weights can use, in one sentence; "" when
  /// it has one.
  virtual std::string density_refusal() const = 0;
  /// Samples events with their exact density (sample's sampler in float64; `net` must be float64).
  /// Throws phasegen::Error with density_refusal() where there is none.
  virtual DensitySample sample_with_density(QNetworkImpl& net, std::int64_t batch, std::int64_t particles,
                                            at::Generator& gen) const;
};

class LangevinFamily : public ModelFamily {
 public:
  LangevinFamily(DiffusionOptions diffusion, LiftOptions lift, double sqrt_s);

  at::Tensor loss(QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) const override;
  at::Tensor sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                    std::int64_t every = 0, const EventCallback& on_events = {}) const override;
  std::int64_t last_step() const override { return 0; }
  std::int64_t evaluations() const override { return diffusion_.evaluations(); }
  bool conserving() const override { return true; }
  double sqrt_s() const override { return sqrt_s_; }
  std::string sampler_description() const override;
  std::string description() const override;
  std::string density_refusal() const override;

  const LangevinDiffusion& diffusion() const { return diffusion_; }
  const LiftOptions& lift() const { return lift_; }

 private:
  LangevinDiffusion diffusion_;
  LiftOptions lift_;
  double sqrt_s_;
};

/// Flow matching on the state of `space`: q with the RAMBO or fitted Gaussian prior, z with N(0, I),
/// or P/x with N(0, I) (the p-space baseline).
class FlowFamily : public ModelFamily {
 public:
  FlowFamily(FlowMatching flow, StateSpace space, StateFeatures features = StateFeatures::kNone,
             FlowCoupling coupling = FlowCoupling::kIndependent);
  /// The Gaussian prior fitted to events [n, N, 4] encoded into `space` with `gen` (the paper's prior).
  static GaussianPrior fit_gaussian(const at::Tensor& events, const StateSpace& space, at::Generator& gen);

  at::Tensor loss(QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) const override;
  /// The (data, prior) pairs of the loss for a minibatch of events [b, N, 4]: states [b, N, 3]
  /// float32 each, drawn by the family's coupling.
  std::pair<at::Tensor, at::Tensor> training_pairs(const at::Tensor& events, at::Generator& gen) const;
  at::Tensor sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                    std::int64_t every = 0, const EventCallback& on_events = {}) const override;
  std::int64_t last_step() const override { return steps_for_budget(flow_.solver(), flow_.nfe()); }
  std::int64_t evaluations() const override { return last_step() * evaluations_per_step(flow_.solver()); }
  bool conserving() const override { return space_.conserving(); }
  double sqrt_s() const override { return space_.sqrt_s(); }
  std::string sampler_description() const override;
  std::string description() const override;
  std::int64_t loss_group() const override { return coupling_ == FlowCoupling::kOt ? kOtGroup : 1; }
  /// q-space with the random lift, and z-space, have a density; p-space and the fixed embedding do not.
  std::string density_refusal() const override;
  DensitySample sample_with_density(QNetworkImpl& net, std::int64_t batch, std::int64_t particles,
                                    at::Generator& gen) const override;

  const FlowMatching& flow() const { return flow_; }
  const StateSpace& space() const { return space_; }
  StateFeatures features() const { return features_; }
  FlowCoupling coupling() const { return coupling_; }

 private:
  FlowMatching flow_;
  StateSpace space_;
  StateFeatures features_;
  FlowCoupling coupling_;
};

/// What the flows on a chart of the event share: one state vector of `coordinates` per event
/// ([b, 1, coordinates]) from N(0, I) or the logistic prior (prior_law), every state decoded to an
/// exact event by the chart.
class ChartFlowFamily : public ModelFamily {
 public:
  std::int64_t last_step() const override { return steps_for_budget(flow_.solver(), flow_.nfe()); }
  std::int64_t evaluations() const override { return last_step() * evaluations_per_step(flow_.solver()); }
  bool conserving() const override { return true; }
  std::string sampler_description() const override;
  const FlowMatching& flow() const { return flow_; }

 protected:
  /// `flow` with the normal or the logistic prior (`what` names the family in the error otherwise).
  ChartFlowFamily(FlowMatching flow, std::int64_t coordinates, const char* what);
  /// Integrates a batch of prior draws to states [batch, 1, coordinates], handing every state to
  /// `on_events` decoded with `decode` (every `every`-th from the first, and the last).
  at::Tensor sample_states(QNetworkImpl& net, std::int64_t batch, at::Generator& gen, std::int64_t every,
                           const EventCallback& on_events,
                           const std::function<at::Tensor(const at::Tensor&)>& decode) const;

  FlowMatching flow_;
};

/// Flow matching for three-body events on the Dalitz plane (see dalitz.hpp): a 2-coordinate state
/// (the standardised log-ratios of the invariants above the cut) from N(0, I) or the logistic, each event's
/// orientation drawn uniformly and kept along its path. The network is an MLP on [b, 1, 2].
class DalitzFlowFamily : public ChartFlowFamily {
 public:
  /// `flow` with the normal or the logistic prior.
  DalitzFlowFamily(FlowMatching flow, DalitzSpace space);
  at::Tensor loss(QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) const override;
  at::Tensor sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                    std::int64_t every = 0, const EventCallback& on_events = {}) const override;
  double sqrt_s() const override { return space_.sqrt_s(); }
  std::string description() const override;
  std::string density_refusal() const override { return {}; }
  /// The orientation's density is the reference's (uniform), so the ratio is the plane's alone.
  DensitySample sample_with_density(QNetworkImpl& net, std::int64_t batch, std::int64_t particles,
                                    at::Generator& gen) const override;
  const DalitzSpace& space() const { return space_; }

 private:
  DalitzSpace space_;
};

/// Flow matching on the antenna-chain chart (see chain.hpp): a (4N - 5)-coordinate state from N(0, I),
/// independent or minibatch-OT pairs, an MLP on [b, 1, 4N - 5]. The loss reads each event's particles
/// in the order given (prepare puts them in a drawn chain history); sampled events come with their
/// particles in a random order.
class ChainFlowFamily : public ChartFlowFamily {
 public:
  /// `flow` with the normal prior; `coupling` independent or ot.
  ChainFlowFamily(FlowMatching flow, ChainSpace space, FlowCoupling coupling);
  /// Each event's particles in a chain history drawn with `gen` (chain_history within the space's box).
  at::Tensor prepare(const at::Tensor& events, at::Generator& gen) const override;
  std::string preparation() const override { return "a chain history drawn for each training event, once"; }
  at::Tensor loss(QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) const override;
  std::int64_t loss_group() const override { return coupling_ == FlowCoupling::kOt ? kOtGroup : 1; }
  at::Tensor sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                    std::int64_t every = 0, const EventCallback& on_events = {}) const override;
  double sqrt_s() const override { return space_.sqrt_s(); }
  std::string description() const override;
  std::string density_refusal() const override;
  const ChainSpace& space() const { return space_; }

 private:
  ChainSpace space_;
  FlowCoupling coupling_;
};

/// The variance-preserving diffusion on the state of `space` (z-space, or P/x for the p-space DDPM).
class VpFamily : public ModelFamily {
 public:
  VpFamily(VpOptions options, StateSpace space, StateFeatures features = StateFeatures::kNone);

  at::Tensor loss(QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) const override;
  at::Tensor sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                    std::int64_t every = 0, const EventCallback& on_events = {}) const override;
  std::int64_t last_step() const override { return vp_.steps(); }
  std::int64_t evaluations() const override { return vp_.evaluations(); }
  bool conserving() const override { return space_.conserving(); }
  double sqrt_s() const override { return space_.sqrt_s(); }
  std::string sampler_description() const override;
  std::string description() const override;
  std::string density_refusal() const override;

  const VpDiffusion& vp() const { return vp_; }
  const StateSpace& space() const { return space_; }
  StateFeatures features() const { return features_; }

 private:
  VpDiffusion vp_;
  StateSpace space_;
  StateFeatures features_;
};

}  // namespace phasegen
