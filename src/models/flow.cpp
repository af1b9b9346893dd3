#include "phasegen/models/flow.hpp"

#include <cmath>
#include <sstream>
#include <vector>

#include "phasegen/core/error.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen {

namespace {
constexpr double kLogTwoPi = 1.83787706640934548356;  // log(2 pi)
}  // namespace

GaussianPrior GaussianPrior::fit(const at::Tensor& q) {
  PHASEGEN_CHECK(q.dim() == 3 && q.size(2) == 3, "Gaussian prior: expected q of shape [n, N, 3], but got ", q.sizes());
  return fit_rows(q.flatten(1));
}

GaussianPrior GaussianPrior::fit_rows(const at::Tensor& rows) {
  PHASEGEN_CHECK(rows.dim() == 2, "Gaussian prior: expected rows [n, d], but got ", rows.sizes());
  const at::Tensor x = rows.to(at::kDouble);
  const std::int64_t n = x.size(0), d = x.size(1);
  PHASEGEN_CHECK(n > d, "Gaussian prior: expected more than ", d, " events to fit a ", d,
                 "-dimensional covariance, but got ", n);
  GaussianPrior g;
  g.mean = x.mean(0);
  at::Tensor centred = x - g.mean;
  at::Tensor covariance = at::matmul(centred.t(), centred) / static_cast<double>(n - 1);
  g.cholesky = at::linalg_cholesky(covariance);
  return g;
}

at::Tensor GaussianPrior::sample(std::int64_t batch, at::Generator& gen, at::ScalarType dtype) const {
  const std::int64_t d = mean.size(0);
  at::Tensor z = at::randn({batch, d}, gen, at::TensorOptions().dtype(at::kDouble).device(gen.device()));
  return (mean.to(z.device()) + at::matmul(z, cholesky.to(z.device()).t())).view({batch, d / 3, 3}).to(dtype);
}

at::Tensor GaussianPrior::log_density(const at::Tensor& x) const {
  const at::Tensor rows = x.reshape({x.size(0), -1}).to(at::kDouble);
  const std::int64_t d = mean.size(0);
  PHASEGEN_CHECK(rows.size(1) == d, "Gaussian prior: expected states of ", d, " coordinates, but got ", rows.size(1));
  const at::Tensor l = cholesky.to(rows.device());
  // y = L^-1 (x - mean): log N = -|y|^2 / 2 - sum log L_ii - d/2 log(2 pi).
  const at::Tensor y = at::linalg_solve_triangular(l, (rows - mean.to(rows.device())).t(), /*upper=*/false).t();
  return -0.5 * y.pow(2).sum(1) - at::log(at::diagonal(l)).sum() - 0.5 * static_cast<double>(d) * kLogTwoPi;
}

at::Tensor standard_normal_log_density(const at::Tensor& x) {
  const at::Tensor rows = x.reshape({x.size(0), -1}).to(at::kDouble);
  return -0.5 * rows.pow(2).sum(1) - 0.5 * static_cast<double>(rows.size(1)) * kLogTwoPi;
}

at::Tensor sample_logistic(at::IntArrayRef shape, at::Generator& gen, at::ScalarType dtype) {
  // In float64 and away from 0 and 1, so that every draw is finite (|x| < 21 s).
  const at::Tensor u = at::rand(shape, gen, at::TensorOptions().dtype(at::kDouble).device(gen.device())).clamp(1e-16, 1.0 - 1e-16);
  return (kLogisticScale * (at::log(u) - at::log1p(-u))).to(dtype);
}

at::Tensor logistic_log_density(const at::Tensor& x) {
  const at::Tensor a = x.reshape({x.size(0), -1}).to(at::kDouble).abs() / kLogisticScale;
  return (-a - 2.0 * at::log1p(at::exp(-a))).sum(1) - static_cast<double>(a.size(1)) * std::log(kLogisticScale);
}

FlowPrior flow_prior_from_name(const std::string& name) { return kFlowPriorNames.parse(name); }

const char* flow_prior_name(FlowPrior prior) { return kFlowPriorNames.name(prior); }

FlowMatching::FlowMatching(FlowPrior prior, OdeSolver solver, std::int64_t nfe, std::optional<GaussianPrior> gaussian)
    : prior_(prior), solver_(solver), nfe_(nfe), gaussian_(std::move(gaussian)) {
  steps_for_budget(solver_, nfe_);
  PHASEGEN_CHECK(prior_ != FlowPrior::kGaussian || gaussian_.has_value(),
                 "flow matching: the gaussian prior needs parameters fitted to the lifted data");
}

at::Tensor FlowMatching::sample_prior(std::int64_t batch, std::int64_t particles, at::Generator& gen,
                                      at::ScalarType dtype) const {
  if (prior_ == FlowPrior::kNormal) {
    return at::randn({batch, particles, coordinates_}, gen, at::TensorOptions().dtype(dtype).device(gen.device()));
  }
  if (prior_ == FlowPrior::kLogistic) return sample_logistic({batch, particles, coordinates_}, gen, dtype);
  PHASEGEN_CHECK(coordinates_ == 3, "flow matching: the ", flow_prior_name(prior_), " prior needs 3 coordinates per particle");
  if (prior_ == FlowPrior::kRambo) return sample_rambo_prior(batch, particles, gen, dtype);
  PHASEGEN_CHECK(gaussian_->mean.size(0) == 3 * particles, "flow matching: the Gaussian prior has ",
                 gaussian_->mean.size(0) / 3, " particles, but N = ", particles, " was asked for");
  return gaussian_->sample(batch, gen, dtype);
}

at::Tensor FlowMatching::prior_log_density(const at::Tensor& x) const {
  switch (prior_) {
    case FlowPrior::kNormal: return standard_normal_log_density(x);
    case FlowPrior::kLogistic: return logistic_log_density(x);
    case FlowPrior::kRambo: return rambo_prior_log_density(x.to(at::kDouble));
    case FlowPrior::kGaussian: return gaussian_->log_density(x);
  }
  return {};
}

FlowDensitySample FlowMatching::sample_with_density(QNetworkImpl& net, std::int64_t batch, std::int64_t particles,
                                                    at::Generator& gen) const {
  at::NoGradGuard no_grad;
  const at::Tensor x = sample_prior(batch, particles, gen, at::kDouble);
  auto field = [&](const at::Tensor& state, double t) {
    return net.forward_and_jacobian(state, at::full({1}, t, state.options()).expand({state.size(0)}), features_);
  };
  IntegratedMap map = integrate_with_log_det(field, x, 1.0, 0.0, steps_for_budget(solver_, nfe_), solver_);
  return {map.x, prior_log_density(x) - map.log_det, map.nonpositive};
}

at::Tensor FlowMatching::loss(QNetworkImpl& net, const at::Tensor& x0, at::Generator& gen) const {
  return loss(net, x0, sample_prior(x0.size(0), x0.size(1), gen).to(x0.scalar_type()), gen);
}

at::Tensor FlowMatching::loss(QNetworkImpl& net, const at::Tensor& x0, const at::Tensor& prior,
                              at::Generator& gen) const {
  const std::int64_t batch = x0.size(0);
  PHASEGEN_CHECK(prior.sizes() == x0.sizes(), "flow matching: expected prior draws shaped like the data ", x0.sizes(),
                 ", but got ", prior.sizes());
  at::Tensor t = at::rand({batch}, gen, x0.options());
  if (time_law_ == FlowTimeLaw::kData) t = t * t;
  if (time_law_ == FlowTimeLaw::kNoise) t = 1.0 - t * t;
  at::Tensor tt = t.view({-1, 1, 1});
  at::Tensor qt = (1.0 - tt) * x0 + tt * prior;
  at::Tensor target = prior - x0;
  return (net.forward_with(qt, t, features_) - target).pow(2).flatten(1).sum(1).mean();
}

at::Tensor FlowMatching::sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                                const std::function<void(double t, const at::Tensor& x)>& on_state) const {
  at::NoGradGuard no_grad;
  at::Tensor x = sample_prior(batch, particles, gen);
  if (on_state) on_state(1.0, x);
  auto field = [&](const at::Tensor& state, double t) {
    return net.forward_with(state, at::full({1}, t, state.options()).expand({state.size(0)}), features_);
  };
  OdeCallback on_step;
  if (on_state) on_step = [&](std::int64_t, double t, const at::Tensor& state) { on_state(t, state); };
  return integrate(field, x, 1.0, 0.0, steps_for_budget(solver_, nfe_), solver_, on_step);
}

std::string FlowMatching::description() const {
  return detail::concat("flow matching, ", flow_prior_name(prior_), " prior, ",
                        time_law_ == FlowTimeLaw::kUniform ? "" : (time_law_ == FlowTimeLaw::kData ? "t = u^2" : "t = 1 - u^2"),
                        time_law_ == FlowTimeLaw::kUniform ? "" : " in training, ", ode_solver_name(solver_), ", ",
                        nfe_, " NFE");
}

}  // namespace phasegen
