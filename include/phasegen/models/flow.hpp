// Flow matching on a model's state X (q, the Gaussianised z or P/x, see space.hpp): a straight
// path from data (t = 0) to a prior (t = 1), a network regressed on the path's velocity, and an
// ODE back from the prior to data. In q-space the RAMBO prior p_ref makes the t = 1 end exactly
// uniform phase space, and so does N(0, I) in z-space; the fitted Gaussian is the paper's choice.
//
//   phasegen::FlowMatching flow(phasegen::FlowPrior::kRambo, phasegen::OdeSolver::kHeun, 20);
//   at::Tensor loss = flow.loss(*net, q0, gen);                       // q0: lifted data
//   at::Tensor q = flow.sample(*net, 10000, 3, gen);                   // rambo_map(q) is an event
//
// The physics and its formulas: docs/PHYSICS.md.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "phasegen/core/names.hpp"
#include "phasegen/models/nn.hpp"
#include "phasegen/models/ode.hpp"

namespace phasegen {

/// A Gaussian over flattened q-space (3N coordinates), with full covariance.
struct GaussianPrior {
  at::Tensor mean;      ///< [3N] float64
  at::Tensor cholesky;  ///< [3N, 3N] float64, lower triangular, covariance = L L^T

  /// Mean and covariance of encoded data [n, N, 3] (n > 3N).
  static GaussianPrior fit(const at::Tensor& q);
  /// Mean and covariance of rows x [n, d] (n > d), any d.
  static GaussianPrior fit_rows(const at::Tensor& x);
  /// Draws [batch, N, 3] float32 (or `dtype`).
  at::Tensor sample(std::int64_t batch, at::Generator& gen, at::ScalarType dtype = at::kFloat) const;
  /// log of the density at x [batch, ...] (flattened to the prior's dimension) -> [batch] float64.
  at::Tensor log_density(const at::Tensor& x) const;
};

/// log N(x; 0, I) over all coordinates of each row of x [batch, ...] -> [batch] float64.
at::Tensor standard_normal_log_density(const at::Tensor& x);

/// A flow sampler's output with its exact density (FlowMatching::sample_with_density).
struct FlowDensitySample {
  at::Tensor x;            ///< states [batch, N, c] float64
  at::Tensor log_density;  ///< [batch] float64: log of the sampler's density at x
  at::Tensor nonpositive;  ///< [batch] int64: steps whose Jacobian determinant was not positive
};

/// kRambo: p_ref (for q-space); kGaussian: a Gaussian fitted to the encoded data; kNormal: N(0, I)
/// (z-space, where it is exactly p_ref, and the p-space baseline); kLogistic: independent logistic
/// coordinates of unit variance (scale sqrt(3) / pi), whose tails fall off exponentially, not as a
/// Gaussian's (a chart's state whose target density has exponential tails, see logistic_log_density).
enum class FlowPrior { kRambo, kGaussian, kNormal, kLogistic };
inline constexpr NameTable<FlowPrior, 4> kFlowPriorNames{
    "prior",
    "prior",
    {{{FlowPrior::kRambo, "rambo"}, {FlowPrior::kGaussian, "gaussian"}, {FlowPrior::kNormal, "normal"}, {FlowPrior::kLogistic, "logistic"}}}};

/// The scale of the unit-variance logistic law: sqrt(3) / pi.
inline constexpr double kLogisticScale = 0.55132889542179204;
/// Draws [shape] of the unit-variance logistic law, s log(u / (1 - u)) with u uniform, in `dtype`.
at::Tensor sample_logistic(at::IntArrayRef shape, at::Generator& gen, at::ScalarType dtype = at::kFloat);
/// log of the product of unit-variance logistic densities over all coordinates of each row of x
/// [batch, ...]: sum of -log s - |a| - 2 log(1 + exp(-|a|)), a = x / s -> [batch] float64.
at::Tensor logistic_log_density(const at::Tensor& x);
FlowPrior flow_prior_from_name(const std::string& name);  ///< "rambo", "gaussian", "normal" or "logistic"
const char* flow_prior_name(FlowPrior prior);

/// How training draws t: uniform on (0, 1); data: t = u^2 (density 1/(2 sqrt(t))), more of the
/// training at the data end; noise: t = 1 - u^2, more of it at the prior end.
enum class FlowTimeLaw { kUniform, kData, kNoise };
inline constexpr NameTable<FlowTimeLaw, 3> kFlowTimeLawNames{
    "time_law", nullptr, {{{FlowTimeLaw::kUniform, "uniform"}, {FlowTimeLaw::kData, "data"}, {FlowTimeLaw::kNoise, "noise"}}}};

/// How a flow model pairs data with prior draws. kIndependent: independent pairs. kFibre: each
/// event is lifted onto the fibre point (b, x) of its own prior draw (q-space with p_ref, or z-space
/// with N(0, I), whose q is p_ref). Both marginals stay exact, because under p_ref the fibre point
/// is independent of the event, and data and prior then differ only along the event directions.
/// kOt: the fibre coupling after pairing the data events of each group of kOtGroup in a minibatch with
/// the prior draws' events by minimum summed squared momentum distance (minibatch optimal transport;
/// a permutation, so both marginals stay exact).
enum class FlowCoupling { kIndependent, kFibre, kOt };
inline constexpr NameTable<FlowCoupling, 3> kFlowCouplingNames{
    "coupling", "coupling", {{{FlowCoupling::kIndependent, "independent"}, {FlowCoupling::kFibre, "fibre"}, {FlowCoupling::kOt, "ot"}}}};
inline constexpr std::int64_t kOtGroup = 256;

class FlowMatching {
 public:
  /// `gaussian` is required for FlowPrior::kGaussian and ignored otherwise.
  FlowMatching(FlowPrior prior, OdeSolver solver, std::int64_t nfe, std::optional<GaussianPrior> gaussian = {});

  /// Prior draws [batch, N, 3] float32 (or `dtype`).
  at::Tensor sample_prior(std::int64_t batch, std::int64_t particles, at::Generator& gen,
                          at::ScalarType dtype = at::kFloat) const;
  /// log of the prior's density at states x [batch, N, c] -> [batch] float64.
  at::Tensor prior_log_density(const at::Tensor& x) const;

  /// Mean over the batch of |v(X_t, t) - (X_prior - X_data)|^2, t ~ U(0, 1), independent pairs.
  /// x0: encoded data [batch, N, 3].
  at::Tensor loss(QNetworkImpl& net, const at::Tensor& x0, at::Generator& gen) const;
  /// The same for given pairs (x0 data, x1 prior draws), for couplings other than independence.
  at::Tensor loss(QNetworkImpl& net, const at::Tensor& x0, const at::Tensor& x1, at::Generator& gen) const;

  /// Integrates dX/dt = v from t = 1 (prior) to t = 0 with the solver and NFE budget and returns X
  /// [batch, N, 3] float32; `on_state` sees the prior draw (t = 1) and the state after every step.
  at::Tensor sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                    const std::function<void(double t, const at::Tensor& x)>& on_state = {}) const;

  /// The same sampler in float64 (`net` must be float64) with the exact density of its output: the
  /// prior's log-density minus the log-determinants of the full Jacobians of the solver's discrete
  /// steps (integrate_with_log_det), through the network and its features.
  FlowDensitySample sample_with_density(QNetworkImpl& net, std::int64_t batch, std::int64_t particles,
                                        at::Generator& gen) const;

  /// Features of the state given to the network beside it (see QNetworkImpl::forward_with).
  void set_features(InputFeatures features) { features_ = std::move(features); }

  /// Coordinates per particle of the state (3; 2 on the Dalitz plane); prior draws take this shape
  /// (the rambo prior needs 3).
  void set_coordinates(std::int64_t coordinates) { coordinates_ = coordinates; }

  /// How training draws t.
  void set_time_law(FlowTimeLaw law) { time_law_ = law; }
  FlowTimeLaw time_law() const { return time_law_; }

  FlowPrior prior() const { return prior_; }
  OdeSolver solver() const { return solver_; }
  std::int64_t nfe() const { return nfe_; }
  const std::optional<GaussianPrior>& gaussian() const { return gaussian_; }
  std::string description() const;

 private:
  FlowPrior prior_;
  OdeSolver solver_;
  std::int64_t nfe_;
  std::optional<GaussianPrior> gaussian_;
  InputFeatures features_;
  FlowTimeLaw time_law_ = FlowTimeLaw::kUniform;
  std::int64_t coordinates_ = 3;
};

}  // namespace phasegen
