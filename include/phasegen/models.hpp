// Models as the tools see them: a q-space network, the process it was trained for, and how events
// enter q-space. Glue between the diffusion, the training engine and event files.
//
//   phasegen::LangevinModel model(diffusion_options, phasegen::LiftOptions::random(), 1.0);
//   phasegen::Trainer trainer(net, model.loss_function(), train_options, info);
//   at::Tensor p = model.sample_events(*net, 10000, 3, gen);   // [10000, 3, 4], exact events
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>

#include "phasegen/diffusion.hpp"
#include "phasegen/flow.hpp"
#include "phasegen/phasespace.hpp"
#include "phasegen/train.hpp"

namespace phasegen {

class LangevinModel {
 public:
  LangevinModel(DiffusionOptions diffusion, LiftOptions lift, double sqrt_s);

  /// The settings as "key = value" lines (stored in checkpoints), and back.
  std::string settings_text() const;
  static LangevinModel from_settings_text(const std::string& text);

  /// Lifts each minibatch of events to q-space (float32) and returns the implicit score-matching loss.
  LossFunction loss_function() const;

  /// Called with (t, events of Q_t) along the reverse path.
  using EventCallback = std::function<void(std::int64_t t, const at::Tensor& events)>;

  /// Samples events [batch, N, 4] float64 (the reverse chain mapped by RAMBO to sqrt_s); with
  /// every > 0, `on_events` also sees the events of every `every`-th state of the chain.
  at::Tensor sample_events(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                           std::int64_t every = 0, const EventCallback& on_events = {}) const;

  const LangevinDiffusion& diffusion() const { return diffusion_; }
  const LiftOptions& lift() const { return lift_; }
  double sqrt_s() const { return sqrt_s_; }
  std::string description() const;

 private:
  LangevinDiffusion diffusion_;
  LiftOptions lift_;
  double sqrt_s_;
};

/// Flow matching in q-space from lifted events, with the RAMBO or a fitted Gaussian prior.
class FlowModel {
 public:
  FlowModel(FlowMatching flow, LiftOptions lift, double sqrt_s);

  /// Fits the Gaussian prior to the events [n, N, 4], lifted with `lift` and a generator seeded
  /// with `seed`, and returns the model.
  static FlowModel with_fitted_gaussian(const at::Tensor& events, OdeSolver solver, std::int64_t nfe, LiftOptions lift,
                                        double sqrt_s, std::uint64_t seed);

  std::string settings_text() const;
  static FlowModel from_settings_text(const std::string& text);

  LossFunction loss_function() const;
  /// Samples events [batch, N, 4] float64; `on_events` (if set) sees every state of the ODE path
  /// mapped to phase space, keyed by the step (0 = prior draw).
  at::Tensor sample_events(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                           const std::function<void(std::int64_t step, const at::Tensor& events)>& on_events = {}) const;

  const FlowMatching& flow() const { return flow_; }
  const LiftOptions& lift() const { return lift_; }
  double sqrt_s() const { return sqrt_s_; }
  std::string description() const;

 private:
  FlowMatching flow_;
  LiftOptions lift_;
  double sqrt_s_;
};

}  // namespace phasegen
