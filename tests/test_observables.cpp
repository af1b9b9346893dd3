#include "phasegen/observables.hpp"

#include "phasegen/phasespace.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

using test::max_abs;

TEST(Observables, PairDotsAreSymmetricMasslessAndSumToS) {
  at::Generator gen = make_generator(4);
  const double sqrt_s = 91.2;
  at::Tensor p = sample_uniform_phase_space(1000, 6, sqrt_s, gen);
  at::Tensor dots = pair_dots(p);
  EXPECT_LE(max_abs(dots - dots.transpose(1, 2)), 1e-12);
  EXPECT_LE(max_abs(dots.diagonal(0, 1, 2)) / (sqrt_s * sqrt_s), 1e-13);
  // (sum p)^2 = s = sum_{i,j} p_i.p_j.
  EXPECT_LE(max_abs(dots.sum({1, 2}) / (sqrt_s * sqrt_s) - 1.0), 1e-12);
  at::Tensor tau = min_pair_dot(p);
  at::Tensor off = dots + at::eye(6, at::kDouble) * 1e30;
  EXPECT_LE(max_abs(tau - std::get<0>(off.flatten(1).min(1))), 0.0);
  EXPECT_GT(tau.min().item<double>(), 0.0);
}

TEST(Observables, SortedEnergiesDescendAndSumToSqrtS) {
  at::Generator gen = make_generator(5);
  at::Tensor p = sample_uniform_phase_space(500, 4, 2.0, gen);
  at::Tensor e = sorted_energies(p);
  EXPECT_TRUE((e.narrow(1, 0, 3) >= e.narrow(1, 1, 3)).all().item<bool>());
  EXPECT_LE(max_abs(e.sum(1) - 2.0), 1e-14);
}

TEST(Observables, ViolationsMeasureKnownDefects) {
  // Two back-to-back photons of 0.5 each, then broken on purpose.
  at::Tensor p = at::tensor(std::vector<double>{0.5, 0, 0, 0.5, 0.5, 0, 0, -0.5}, at::kDouble).view({1, 2, 4});
  EXPECT_EQ(conservation_violation(p, 1.0).item<double>(), 0.0);
  EXPECT_EQ(mass_violation(p, 1.0).item<double>(), 0.0);
  at::Tensor moved = p.clone();
  moved[0][0][1] = 0.01;  // px off by 0.01; |p| grows by 1e-4
  EXPECT_NEAR(conservation_violation(moved, 1.0).item<double>(), 0.01, 1e-15);
  EXPECT_NEAR(mass_violation(moved, 1.0).item<double>(), std::sqrt(0.25 + 1e-4) - 0.5, 1e-15);
  EXPECT_ERROR_CONTAINS(energies(at::zeros({2, 3}, at::kDouble)), "expected events of shape");
}

}  // namespace
}  // namespace phasegen
