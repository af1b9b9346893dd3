#include "phasegen/physics/gaussian.hpp"

#include <cfloat>
#include <cmath>
#include <functional>

#include <ATen/core/grad_mode.h>

#include "phasegen/core/error.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen {

namespace {

constexpr double kPi = 3.14159265358979323846;
// Below this x the lower tail P(a, x) comes from its power series; above it P >= 0.44 for
// a <= 2, so log1p(-Q) is exact enough.
constexpr double kSeriesLimit = 1.5;
constexpr int kSeriesTerms = 40;
constexpr int kMaxNewtonSteps = 100;

void check_supported(double a) {
  PHASEGEN_CHECK(a == 1.5 || a == 2.0, "incomplete gamma: expected a = 3/2 or 2, but got ", a);
}

// log Q(a, x) for x >= 0, free of underflow: Q(2, x) = (1 + x) e^-x and
// Q(3/2, x) = erfc(sqrt x) + 2 sqrt(x / pi) e^-x = e^-x (erfcx(sqrt x) + 2 sqrt(x / pi)).
at::Tensor log_upper(double a, const at::Tensor& x) {
  if (a == 2.0) return at::log1p(x) - x;
  at::Tensor s = x.sqrt();
  return at::log(at::special_erfcx(s) + s * (2.0 / std::sqrt(kPi))) - x;
}

// log P(a, x) from the series x^a e^-x / Gamma(a+1) * sum_k x^k / ((a+1)...(a+k)).
at::Tensor log_lower_series(double a, const at::Tensor& x) {
  at::Tensor sum = at::ones_like(x);
  at::Tensor term = at::ones_like(x);
  for (int k = 1; k <= kSeriesTerms; ++k) {
    term = term * x / (a + k);
    sum = sum + term;
  }
  return a * at::log(x) - x - std::lgamma(a + 1.0) + at::log(sum);
}

}  // namespace

std::pair<at::Tensor, at::Tensor> log_gamma_cdf_pair(double a, const at::Tensor& x) {
  check_supported(a);
  at::Tensor log_q = log_upper(a, x);
  at::Tensor small = x < kSeriesLimit;
  at::Tensor log_p = at::where(small, log_lower_series(a, x.clamp_max(kSeriesLimit)),
                               at::log1p(-at::exp(log_q)));
  return {log_p, log_q};
}

at::Tensor inverse_gamma_cdf(double a, const at::Tensor& log_p, const at::Tensor& log_q) {
  check_supported(a);
  PHASEGEN_CHECK(log_p.sizes() == log_q.sizes(), "inverse_gamma_cdf: expected log P and log Q of one shape, but got ",
                 log_p.sizes(), " and ", log_q.sizes());
  // Newton in y = log x on the smaller tail. Both log P(a, e^y) and log Q(a, e^y) are concave
  // in y (the log-gamma density is log-concave), so after its first step Newton approaches the
  // root monotonically from one side. Starting points: P <= x^a / Gamma(a+1) and Q >= e^-x
  // put both guesses on the near side of the root.
  const double log_half = std::log(0.5);
  at::Tensor zero = log_p == -INFINITY;
  at::Tensor use_p = log_p < log_half;
  at::Tensor target = at::where(use_p, log_p, log_q).masked_fill(zero, log_half);
  at::Tensor guess_p = (target + std::lgamma(a + 1.0)) / a;
  at::Tensor guess_q = at::log(target.neg().clamp_min(-log_half));
  at::Tensor y = at::where(use_p, guess_p, guess_q);
  const double lgamma_a = std::lgamma(a);
  bool polish = false;  // Newton is quadratic: one step after |delta| < 1e-9 reaches round-off
  for (int step = 0; step < kMaxNewtonSteps; ++step) {
    at::Tensor x = at::exp(y);
    auto [lp, lq] = log_gamma_cdf_pair(a, x);
    at::Tensor value = at::where(use_p, lp, lq);
    // d log P / dy = x^a e^-x / (Gamma(a) P); d log Q / dy = -x^a e^-x / (Gamma(a) Q).
    at::Tensor log_density = a * y - x - lgamma_a;
    at::Tensor slope = at::where(use_p, at::exp(log_density - lp), -at::exp(log_density - lq));
    at::Tensor delta = ((value - target) / slope).masked_fill_(zero, 0.0);
    y = y - delta;
    // Stop at round-off: there the steps can cycle around 1e-15 without ever going below it.
    const double largest = delta.abs().max().item<double>();
    if (largest < 4 * DBL_EPSILON || polish) break;
    polish = largest < 1e-9;
  }
  return at::exp(y).masked_fill_(zero, 0.0);
}

namespace {

void check_vectors(const at::Tensor& v, const char* what) {
  PHASEGEN_CHECK(v.dim() >= 1 && v.size(-1) == 3, what, ": expected [..., 3], but got ", v.sizes());
  PHASEGEN_CHECK(at::isFloatingType(v.scalar_type()), what,
                 ": expected a floating-point tensor, but got ", v.scalar_type());
}

// Rescales every 3-vector of v from radius r to radius f(r), keeping its direction.
at::Tensor rescale(const at::Tensor& v, const at::Tensor& r, const at::Tensor& new_r) {
  return v * (new_r / r.clamp_min(DBL_MIN)).unsqueeze(-1);
}

// The new radii f(r) of a radial map, exact in value; with autograd on, differentiable in r through
// df/dr = exp(log_slope) (the ratio of the two radial densities) instead of through Newton's
// iterations, which would record a graph of every step for a first derivative the formula gives at once.
at::Tensor radial_map(const at::Tensor& r, const std::function<at::Tensor(const at::Tensor&)>& value,
                      const std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>& log_slope) {
  if (!(at::GradMode::is_enabled() && r.requires_grad())) return value(r);
  at::Tensor fixed_r = r.detach();
  at::Tensor new_r;
  {
    at::NoGradGuard no_grad;
    new_r = value(fixed_r);
  }
  // At a zero radius both log-densities are -inf: the slope is read as 0 there (a measure-zero point).
  at::Tensor slope = at::nan_to_num(at::exp(log_slope(fixed_r, new_r)), 0.0);
  return new_r + (r - fixed_r) * slope;
}

constexpr double kLogTwoPi = 1.8378770664093454836;  // log(2 pi)

// log of the chi_3 density of a radius r, sqrt(2/pi) r^2 e^(-r^2/2), and of the Gamma(2, 1) density of
// a radius rho, rho e^-rho.
at::Tensor log_chi3_density(const at::Tensor& r) {
  return 0.5 * std::log(2.0 / kPi) + 2.0 * at::log(r) - 0.5 * r * r;
}
at::Tensor log_gamma2_density(const at::Tensor& rho) { return at::log(rho) - rho; }

at::Tensor gaussian_radius_to_gamma(const at::Tensor& r) {
  // |z| ~ chi_3 has CDF P(3/2, r^2/2); |q| ~ Gamma(2, 1) has CDF P(2, rho).
  auto [log_p, log_q] = log_gamma_cdf_pair(1.5, r * r * 0.5);
  return inverse_gamma_cdf(2.0, log_p, log_q);
}

at::Tensor gamma_radius_to_gaussian(const at::Tensor& rho) {
  auto [log_p, log_q] = log_gamma_cdf_pair(2.0, rho);
  return (inverse_gamma_cdf(1.5, log_p, log_q) * 2.0).sqrt_();
}

void check_events(const at::Tensor& v, const char* what) {
  check_vectors(v, what);
  PHASEGEN_CHECK(v.dim() == 3, what, ": expected [batch, N, 3], but got ", v.sizes());
}

}  // namespace

at::Tensor gaussian_to_qspace(const at::Tensor& z) {
  check_vectors(z, "gaussian_to_qspace");
  at::Tensor r = at::linalg_vector_norm(z, 2, {-1}, false, c10::nullopt);
  at::Tensor rho = radial_map(r, gaussian_radius_to_gamma, [](const at::Tensor& r0, const at::Tensor& rho0) {
    return log_chi3_density(r0) - log_gamma2_density(rho0);
  });
  return rescale(z, r, rho);
}

at::Tensor qspace_to_gaussian(const at::Tensor& q) {
  check_vectors(q, "qspace_to_gaussian");
  at::Tensor rho = at::linalg_vector_norm(q, 2, {-1}, false, c10::nullopt);
  at::Tensor r = radial_map(rho, gamma_radius_to_gaussian, [](const at::Tensor& rho0, const at::Tensor& r0) {
    return log_gamma2_density(rho0) - log_chi3_density(r0);
  });
  return rescale(q, rho, r);
}

at::Tensor gaussian_to_qspace_log_jacobian(const at::Tensor& z) {
  check_events(z, "gaussian_to_qspace_log_jacobian");
  // The map carries N(0, I) onto p_ref exactly, so p_ref(q) |det dq/dz| = N(z) per event.
  at::Tensor q = gaussian_to_qspace(z);
  at::Tensor log_normal = (-0.5 * (z * z).sum({1, 2})) - 1.5 * kLogTwoPi * static_cast<double>(z.size(1));
  return log_normal - rambo_prior_log_density(q);
}

at::Tensor qspace_to_gaussian_log_jacobian(const at::Tensor& q) {
  check_events(q, "qspace_to_gaussian_log_jacobian");
  at::Tensor z = qspace_to_gaussian(q);
  at::Tensor log_normal = (-0.5 * (z * z).sum({1, 2})) - 1.5 * kLogTwoPi * static_cast<double>(q.size(1));
  return rambo_prior_log_density(q) - log_normal;
}

}  // namespace phasegen
