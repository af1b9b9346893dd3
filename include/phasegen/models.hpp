// Models as the tools see them: a network's task (the loss), how it samples, and how events enter
// and leave its state space. Glue between the generative processes, the training engine and files.
//
//   phasegen::VpModel model(phasegen::VpOptions(), phasegen::StateSpace::latent(phasegen::LiftOptions::random(), 1.0));
//   phasegen::Trainer trainer(net, model.loss_function(), train_options, info);
//   at::Tensor p = model.sample_events(*net, 10000, 3, gen);   // [10000, 3, 4], exact events
//
// Families ("kind" in checkpoints): langevin, the paper's q-space diffusion; flow, flow matching
// in q-space, z-space or p-space; vp, the variance-preserving diffusion in z-space or p-space.
// The p-space variants are the paper's baselines and the only models that do not conserve.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "phasegen/diffusion.hpp"
#include "phasegen/flow.hpp"
#include "phasegen/phasespace.hpp"
#include "phasegen/space.hpp"
#include "phasegen/train.hpp"
#include "phasegen/vp.hpp"

namespace phasegen {

class Model {
 public:
  /// Called with (step label, events [n, N, 4] float64) along the sampling path.
  using EventCallback = std::function<void(std::int64_t step, const at::Tensor& events)>;

  virtual ~Model() = default;
  /// "langevin", "flow" or "vp".
  virtual const char* kind() const = 0;
  /// The settings as "key = value" lines (stored in checkpoints); model_from_settings reads them.
  virtual std::string settings_text() const = 0;
  /// Encodes each minibatch of events and returns the training loss.
  virtual LossFunction loss_function() const = 0;
  /// Rows of a minibatch its loss couples (1: a mean of per-event terms); see TrainOptions::loss_group.
  virtual std::int64_t loss_group() const { return 1; }
  /// Samples events [batch, N, 4] float64. With every > 0, `on_events` sees the events of the first
  /// state (pure noise), of every `every`-th state and of the last. Labels: the diffusion step t for
  /// langevin (T first, 0 last), the sampler step for flow and vp (0 first, S last).
  virtual at::Tensor sample_events(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
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
};

/// Rebuilds the model of a checkpoint from its kind and settings text; `overrides` replace
/// sampler settings first (a key the model does not have is an error naming it).
std::unique_ptr<Model> model_from_settings(const std::string& kind, const std::string& settings_text,
                                           const std::vector<std::pair<std::string, std::string>>& overrides = {});

class LangevinModel : public Model {
 public:
  LangevinModel(DiffusionOptions diffusion, LiftOptions lift, double sqrt_s);
  static LangevinModel from_settings_text(const std::string& text);

  const char* kind() const override { return "langevin"; }
  std::string settings_text() const override;
  LossFunction loss_function() const override;
  at::Tensor sample_events(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                           std::int64_t every = 0, const EventCallback& on_events = {}) const override;
  std::int64_t last_step() const override { return 0; }
  std::int64_t evaluations() const override { return diffusion_.evaluations(); }
  bool conserving() const override { return true; }
  double sqrt_s() const override { return sqrt_s_; }
  std::string sampler_description() const override;
  std::string description() const override;

  const LangevinDiffusion& diffusion() const { return diffusion_; }
  const LiftOptions& lift() const { return lift_; }

 private:
  LangevinDiffusion diffusion_;
  LiftOptions lift_;
  double sqrt_s_;
};

/// The features a network of a flow or VP model may see beside its state: none, or the event the
/// state decodes to (E, p) / sqrt_s per particle, 4 extra inputs. The event makes the target
/// density, a simple function of the momenta, easy to read off for a network working in q- or
/// z-space, where the momenta are a boost and a rescaling away.
enum class StateFeatures { kNone, kEvent };
StateFeatures state_features_from_name(const std::string& name);  ///< "none" or "event"
const char* state_features_name(StateFeatures features);
/// Extra network inputs per particle: 0 or 4.
std::int64_t extra_inputs(StateFeatures features);

/// How a flow model pairs data with prior draws. kIndependent: independent pairs. kFibre: each
/// event is lifted onto the fibre point (b, x) of its own prior draw (q-space with p_ref, or z-space
/// with N(0, I), whose q is p_ref). Both marginals stay exact, because under p_ref the fibre point
/// is independent of the event, and data and prior then differ only along the event directions.
/// kOt: the fibre coupling after pairing the data events of each group of kOtGroup in a minibatch with
/// the prior draws' events by minimum summed squared momentum distance (minibatch optimal transport;
/// a permutation, so both marginals stay exact).
enum class FlowCoupling { kIndependent, kFibre, kOt };
inline constexpr std::int64_t kOtGroup = 256;
FlowCoupling flow_coupling_from_name(const std::string& name);  ///< "independent", "fibre" or "ot"
const char* flow_coupling_name(FlowCoupling coupling);

/// Flow matching on the state of `space`: q with the RAMBO or fitted Gaussian prior, z with N(0, I),
/// or P/x with N(0, I) (the p-space baseline).
class FlowModel : public Model {
 public:
  FlowModel(FlowMatching flow, StateSpace space, StateFeatures features = StateFeatures::kNone,
            FlowCoupling coupling = FlowCoupling::kIndependent);
  /// Fits the Gaussian prior to the events [n, N, 4] encoded into `space` with a generator seeded
  /// with `seed`, and returns the model.
  static FlowModel with_fitted_gaussian(const at::Tensor& events, OdeSolver solver, std::int64_t nfe, StateSpace space,
                                        std::uint64_t seed, StateFeatures features = StateFeatures::kNone);
  static FlowModel from_settings_text(const std::string& text);

  const char* kind() const override { return "flow"; }
  std::string settings_text() const override;
  LossFunction loss_function() const override;
  /// The (data, prior) pairs of the loss for a minibatch of events [b, N, 4]: states [b, N, 3]
  /// float32 each, drawn by the model's coupling.
  std::pair<at::Tensor, at::Tensor> training_pairs(const at::Tensor& events, at::Generator& gen) const;
  at::Tensor sample_events(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                           std::int64_t every = 0, const EventCallback& on_events = {}) const override;
  std::int64_t last_step() const override { return steps_for_budget(flow_.solver(), flow_.nfe()); }
  std::int64_t evaluations() const override { return last_step() * evaluations_per_step(flow_.solver()); }
  bool conserving() const override { return space_.conserving(); }
  double sqrt_s() const override { return space_.sqrt_s(); }
  std::string sampler_description() const override;
  std::string description() const override;

  const FlowMatching& flow() const { return flow_; }
  const StateSpace& space() const { return space_; }
  StateFeatures features() const { return features_; }
  FlowCoupling coupling() const { return coupling_; }
  std::int64_t loss_group() const override { return coupling_ == FlowCoupling::kOt ? kOtGroup : 1; }

 private:
  FlowMatching flow_;
  StateSpace space_;
  StateFeatures features_;
  FlowCoupling coupling_;
};

/// The variance-preserving diffusion on the state of `space` (z-space, or P/x for the p-space DDPM).
class VpModel : public Model {
 public:
  VpModel(VpOptions options, StateSpace space, StateFeatures features = StateFeatures::kNone);
  static VpModel from_settings_text(const std::string& text);

  const char* kind() const override { return "vp"; }
  std::string settings_text() const override;
  LossFunction loss_function() const override;
  at::Tensor sample_events(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                           std::int64_t every = 0, const EventCallback& on_events = {}) const override;
  std::int64_t last_step() const override { return vp_.steps(); }
  std::int64_t evaluations() const override { return vp_.evaluations(); }
  bool conserving() const override { return space_.conserving(); }
  double sqrt_s() const override { return space_.sqrt_s(); }
  std::string sampler_description() const override;
  std::string description() const override;

  const VpDiffusion& vp() const { return vp_; }
  const StateSpace& space() const { return space_; }
  StateFeatures features() const { return features_; }

 private:
  VpDiffusion vp_;
  StateSpace space_;
  StateFeatures features_;
};

}  // namespace phasegen
