#include "phasegen/models/dalitz.hpp"

#include <cmath>

#include "phasegen/core/error.hpp"

namespace phasegen {

namespace {

void check_three_body(const at::Tensor& events, const char* what) {
  PHASEGEN_CHECK(events.dim() == 3 && events.size(1) == 3 && events.size(2) == 4, what,
                 ": expected three-body events [b, 3, 4], but got ", events.sizes());
}

}  // namespace

at::Tensor three_body_invariants(const at::Tensor& events) {
  check_three_body(events, "three_body_invariants");
  const at::Tensor p = events.to(at::kDouble);
  const at::Tensor e = p.select(2, 0);
  const at::Tensor unit = p.narrow(2, 1, 3) / at::linalg_vector_norm(p.narrow(2, 1, 3), 2, {-1}, true, c10::nullopt);
  const at::Tensor s = e.sum(1).pow(2);
  auto pair = [&](std::int64_t j, std::int64_t k) {
    return e.select(1, j) * e.select(1, k) * (unit.select(1, j) - unit.select(1, k)).pow(2).sum(-1) / s;
  };
  return at::stack({pair(1, 2), pair(0, 2), pair(0, 1)}, 1);
}

at::Tensor three_body_event(const at::Tensor& y, double sqrt_s) {
  PHASEGEN_CHECK(y.dim() == 2 && y.size(1) == 3, "three_body_event: expected invariants [b, 3], but got ", y.sizes());
  const at::Tensor v = y.to(at::kDouble);
  const at::Tensor y1 = v.select(1, 0), y2 = v.select(1, 1), y3 = v.select(1, 2);
  // x_i = 2 E_i / sqrt_s = 1 - y_i = y_j + y_k, the sum free of cancellation for a soft particle.
  const at::Tensor x1 = y2 + y3, x2 = y1 + y3, x3 = y1 + y2;
  // Half angles of particles 2 and 3 to particle 1, both squares formed without cancellation:
  // sin^2(theta_12 / 2) = y3 / (x1 x2), cos^2(theta_12 / 2) = y1 y2 / (x1 x2) (sum 1 as sum y = 1),
  // and likewise for (1, 3) with y2 and y1 y3.
  const at::Tensor s2 = y3 / (x1 * x2), c2 = y1 * y2 / (x1 * x2);
  const at::Tensor s3 = y2 / (x1 * x3), c3 = y1 * y3 / (x1 * x3);
  const at::Tensor e1 = 0.5 * sqrt_s * x1, e2 = 0.5 * sqrt_s * x2, e3 = 0.5 * sqrt_s * x3;
  const at::Tensor zero = at::zeros_like(e1);
  const at::Tensor p1 = at::stack({e1, zero, zero, e1}, 1);
  const at::Tensor p2 = at::stack({e2, 2.0 * e2 * at::sqrt(s2 * c2), zero, e2 * (c2 - s2)}, 1);
  const at::Tensor p3 = at::stack({e3, -2.0 * e3 * at::sqrt(s3 * c3), zero, e3 * (c3 - s3)}, 1);
  return at::stack({p1, p2, p3}, 1);
}

at::Tensor uniform_rotations(std::int64_t n, at::Generator& gen) {
  at::Tensor q = at::randn({n, 4}, gen, at::TensorOptions().dtype(at::kDouble).device(gen.device()));
  q = q / at::linalg_vector_norm(q, 2, {-1}, true, c10::nullopt);
  const at::Tensor w = q.select(1, 0), a = q.select(1, 1), b = q.select(1, 2), c = q.select(1, 3);
  const at::Tensor rows[3] = {
      at::stack({1 - 2 * (b * b + c * c), 2 * (a * b - c * w), 2 * (a * c + b * w)}, 1),
      at::stack({2 * (a * b + c * w), 1 - 2 * (a * a + c * c), 2 * (b * c - a * w)}, 1),
      at::stack({2 * (a * c - b * w), 2 * (b * c + a * w), 1 - 2 * (a * a + b * b)}, 1)};
  return at::stack({rows[0], rows[1], rows[2]}, 1);
}

DalitzSpace::DalitzSpace(double cut, double sqrt_s, GaussianPrior standardisation)
    : cut_(cut), sqrt_s_(sqrt_s), standardisation_(std::move(standardisation)) {
  PHASEGEN_CHECK(std::isfinite(cut_) && cut_ >= 0 && cut_ < 1.0 / 3.0, "Dalitz space: expected a cut in [0, 1/3), but got ", cut_);
  PHASEGEN_CHECK(standardisation_.mean.numel() == 2 && standardisation_.cholesky.sizes() == at::IntArrayRef({2, 2}),
                 "Dalitz space: expected a standardisation of the 2 log-ratios");
}

at::Tensor DalitzSpace::log_ratios(const at::Tensor& events, double cut) {
  const at::Tensor y = three_body_invariants(events);
  const at::Tensor below = (y <= cut).any(1);
  if (below.any().item<bool>()) {
    const std::int64_t first = below.nonzero().select(1, 0)[0].item<std::int64_t>();
    throw Error(detail::concat("Dalitz space: event ", first, " has s_ij/s = ", y[first].min().item<double>(),
                               ", not above the model's cut ", cut, " (set cut to the data's, or lower)"));
  }
  const at::Tensor shifted = (y - cut) / (1.0 - 3.0 * cut);
  const at::Tensor logs = at::log(shifted);
  return logs.narrow(1, 0, 2) - logs.narrow(1, 2, 1);
}

GaussianPrior DalitzSpace::fit(const at::Tensor& events, double cut) { return GaussianPrior::fit_rows(log_ratios(events, cut)); }

at::Tensor DalitzSpace::encode(const at::Tensor& events) const {
  const at::Tensor u = log_ratios(events, cut_);
  const at::Tensor l = standardisation_.cholesky.to(u.device());
  // s = L^-1 (u - mean)
  const at::Tensor s = at::linalg_solve_triangular(l, (u - standardisation_.mean.to(u.device())).t(), /*upper=*/false).t();
  return s.unsqueeze(1).to(at::kFloat);
}

at::Tensor DalitzSpace::decode(const at::Tensor& state, const at::Tensor& rotation) const {
  PHASEGEN_CHECK(state.dim() == 3 && state.size(1) == 1 && state.size(2) == 2,
                 "Dalitz space: expected states [b, 1, 2], but got ", state.sizes());
  PHASEGEN_CHECK(rotation.dim() == 3 && rotation.size(0) == state.size(0) && rotation.size(1) == 3 && rotation.size(2) == 3,
                 "Dalitz space: expected one rotation [3, 3] per state, but got ", rotation.sizes());
  const at::Tensor s = state.select(1, 0).to(at::kDouble);
  const at::Tensor u = standardisation_.mean.to(s.device()) + at::matmul(s, standardisation_.cholesky.to(s.device()).t());
  const at::Tensor shifted = at::softmax(at::cat({u, at::zeros({u.size(0), 1}, u.options())}, 1), 1);
  const at::Tensor y = cut_ + (1.0 - 3.0 * cut_) * shifted;
  const at::Tensor p = three_body_event(y, sqrt_s_);
  const at::Tensor momenta = at::matmul(p.narrow(2, 1, 3), rotation.to(p.options()).transpose(1, 2));
  return at::cat({p.narrow(2, 0, 1), momenta}, 2);
}

at::Tensor DalitzSpace::flat_log_density(const at::Tensor& state) const {
  PHASEGEN_CHECK(state.dim() == 3 && state.size(1) == 1 && state.size(2) == 2,
                 "Dalitz space: expected states [b, 1, 2], but got ", state.sizes());
  const at::Tensor s = state.select(1, 0).to(at::kDouble);
  const at::Tensor l = standardisation_.cholesky.to(s.device());
  const at::Tensor u = standardisation_.mean.to(s.device()) + at::matmul(s, l.t());
  const at::Tensor log_shifted = at::log_softmax(at::cat({u, at::zeros({u.size(0), 1}, u.options())}, 1), 1);
  return std::log(2.0) + 2.0 * std::log1p(-3.0 * cut_) + log_shifted.sum(1) + at::log(at::diagonal(l)).sum();
}

std::string DalitzSpace::description() const {
  return detail::concat("Dalitz plane (log-ratios of s_ij/s", cut_ > 0 ? detail::concat(" above the cut ", cut_) : "",
                        ", orientation uniform), sqrt_s = ", sqrt_s_, " GeV");
}

}  // namespace phasegen
