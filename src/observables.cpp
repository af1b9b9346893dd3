#include "phasegen/observables.hpp"

#include "phasegen/error.hpp"

namespace phasegen {

namespace {

void check_events(const at::Tensor& p, const char* what) {
  PHASEGEN_CHECK(p.dim() == 3 && p.size(2) == 4, what,
                 ": expected events of shape [batch, N, 4], but got ", p.sizes());
}

}  // namespace

at::Tensor energies(const at::Tensor& p) {
  check_events(p, "energies");
  return p.select(2, 0);
}

at::Tensor sorted_energies(const at::Tensor& p) {
  return std::get<0>(energies(p).sort(1, /*descending=*/true));
}

at::Tensor pair_dots(const at::Tensor& p) {
  check_events(p, "pair_dots");
  at::Tensor e = p.select(2, 0);
  at::Tensor v = p.narrow(2, 1, 3);
  return e.unsqueeze(2) * e.unsqueeze(1) - at::matmul(v, v.transpose(1, 2));
}

at::Tensor min_pair_dot(const at::Tensor& p) {
  check_events(p, "min_pair_dot");
  PHASEGEN_CHECK(p.size(1) >= 2, "min_pair_dot: expected N >= 2, but got ", p.size(1));
  at::Tensor dots = pair_dots(p);
  const auto n = p.size(1);
  at::Tensor diagonal = at::eye(n, at::TensorOptions().dtype(at::kBool).device(p.device()));
  return std::get<0>(dots.masked_fill(diagonal, INFINITY).flatten(1).min(1));
}

at::Tensor conservation_violation(const at::Tensor& p, double sqrt_s) {
  check_events(p, "conservation_violation");
  at::Tensor total = p.sum(1);  // [batch, 4]
  total.select(1, 0).sub_(sqrt_s);
  return std::get<0>(total.abs().max(1)) / sqrt_s;
}

at::Tensor mass_violation(const at::Tensor& p, double sqrt_s) {
  check_events(p, "mass_violation");
  at::Tensor norm = at::linalg_vector_norm(p.narrow(2, 1, 3), 2, {2}, false, c10::nullopt);
  return std::get<0>((p.select(2, 0) - norm).abs().max(1)) / sqrt_s;
}

}  // namespace phasegen
