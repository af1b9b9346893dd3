#include "phasegen/physics/observables.hpp"

#include "phasegen/physics/phasespace.hpp"

#include <cmath>
#include <set>
#include <string>
#include <vector>
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

namespace phasegen {
namespace {

at::Tensor event(std::vector<double> values, std::int64_t n) {
  return at::tensor(values, at::kDouble).view({1, n, 4});
}

TEST(EventShapes, ThrustAndCParameterOfKnownConfigurations) {
  // Back to back: T = 1, C = 0.
  at::Tensor two = event({0.5, 0, 0, 0.5, 0.5, 0, 0, -0.5}, 2);
  EXPECT_NEAR(thrust(two).item<double>(), 1.0, 1e-15);
  EXPECT_NEAR(c_parameter(two).item<double>(), 0.0, 1e-15);
  // The symmetric "Mercedes" event: T = 2/3, C = 3/4.
  const double e = 1.0 / 3.0, c = std::cos(2 * 3.14159265358979323846 / 3), s = std::sin(2 * 3.14159265358979323846 / 3);
  at::Tensor mercedes = event({e, e, 0, 0, e, e * c, e * s, 0, e, e * c, -e * s, 0}, 3);
  EXPECT_NEAR(thrust(mercedes).item<double>(), 2.0 / 3.0, 1e-14);
  EXPECT_NEAR(c_parameter(mercedes).item<double>(), 0.75, 1e-14);
}

TEST(EventShapes, ExactAndIteratedThrustAgreeAndStayInRange) {
  at::Generator gen = make_generator(21);
  at::Tensor p = sample_uniform_phase_space(2000, 8, 1.0, gen);
  at::Tensor exact = thrust(p);
  EXPECT_GE(exact.min().item<double>(), 0.5 - 1e-12);
  EXPECT_LE(exact.max().item<double>(), 1.0 + 1e-12);
  // Thrust is the maximum over every axis: no axis does better, e.g. the particles' own.
  at::Tensor v = p.narrow(2, 1, 3);
  at::Tensor axes = v / v.norm(2, 2, true);
  at::Tensor along = at::matmul(v, axes.transpose(1, 2)).abs().sum(1) / v.norm(2, 2).sum(1, true);
  EXPECT_TRUE((std::get<0>(along.max(1)) <= exact + 1e-12).all().item<bool>());
  // For N > 12 the iteration is used: it stays in range and near 1/2 for isotropic events.
  at::Tensor big = sample_uniform_phase_space(200, 40, 1.0, gen);
  at::Tensor t = thrust(big);
  EXPECT_GE(t.min().item<double>(), 0.5);
  EXPECT_LE(t.max().item<double>(), 1.0);
  at::Tensor cp = c_parameter(big);
  EXPECT_GE(cp.min().item<double>(), 0.0);
  EXPECT_LE(cp.max().item<double>(), 1.0);
}

TEST(Observables, PairInvariantsSumToSAndRosenblattNeedsThreeParticles) {
  at::Generator gen = make_generator(22);
  at::Tensor p = sample_uniform_phase_space(500, 5, 3.0, gen);
  EXPECT_LE(test::max_abs(pair_invariants(p).sum(1) / 9.0 - 1.0), 1e-13);
  EXPECT_EQ(particle_pairs(5).size(), 10u);
  EXPECT_EQ(particle_pairs(5)[4], (std::pair<std::int64_t, std::int64_t>{1, 2}));
  at::Tensor two = at::tensor(std::vector<double>{0.5, 0, 0, 0.5, 0.5, 0, 0, -0.5}, at::kDouble).view({1, 2, 4});
  EXPECT_NEAR(pair_cosines(two).item<double>(), -1.0, 1e-15);
  EXPECT_ERROR_CONTAINS(muon_rosenblatt(p, 3.0), "expected N = 3 particles");
  EXPECT_ERROR_CONTAINS(dalitz_energies(p), "expected N = 3 particles");
  at::Tensor three = sample_uniform_phase_space(100, 3, 3.0, gen);
  EXPECT_TRUE(at::equal(dalitz_energies(three), energies(three).narrow(1, 0, 2)));
  EXPECT_LE(log10_min_pair_dot(p, 3.0).max().item<double>(), std::log10(0.5));
}

TEST(Observables, TableOneMetricIsRoundOffForExactEventsAndMeasuresViolations) {
  at::Generator gen = make_generator(24);
  at::Tensor p = sample_uniform_phase_space(1000, 5, 1.0, gen);
  EXPECT_LE(table_one_violation(p, 1.0).max().item<double>(), 1e-13);
  // Two events with known defects: energies (0.2, 0.3, 0.5) have median 0.3.
  at::Tensor broken = at::tensor(std::vector<double>{0.2, 0.2, 0, 0, 0.3, -0.3, 0, 0, 0.5, 0, 0, 0.5}, at::kDouble)
                          .view({1, 3, 4})
                          .repeat({2, 1, 1});
  broken[1][0][0] = 0.26;  // sum E = 1.06
  at::Tensor metric = table_one_violation(broken, 1.0);
  // Event 1: sum E = 1, sum p = (-0.1, 0, 0.5); event 2: sum E = 1.06, median 0.3.
  EXPECT_NEAR(metric[0].item<double>(), 0.5 * 0.06 / 0.3, 1e-14);
  EXPECT_NEAR(metric[1].item<double>(), 0.1 / 0.3, 1e-14);
  EXPECT_NEAR(metric[2].item<double>(), 0.0, 1e-15);
  EXPECT_NEAR(metric[3].item<double>(), 0.5 / 0.3, 1e-14);
}

TEST(Observables, StandardListsHaveUniqueNamesAndEvaluate) {
  for (std::int64_t n : {3, 5, 10, 20}) {
    at::Generator gen = make_generator(23);
    at::Tensor p = sample_uniform_phase_space(50, n, 1.0, gen);
    auto list = standard_observables(n);
    std::set<std::string> names;
    for (const auto& o : list) {
      EXPECT_TRUE(names.insert(o.name).second) << o.name;
      at::Tensor value = o.compute(p, 1.0);
      EXPECT_EQ(value.sizes(), (at::IntArrayRef{50})) << o.name;
      EXPECT_TRUE(at::isfinite(value).all().item<bool>()) << o.name;
    }
    EXPECT_EQ(names.count("thrust"), 1u);
    EXPECT_EQ(names.count("u1"), n == 3 ? 1u : 0u);
  }
}

}  // namespace
}  // namespace phasegen
