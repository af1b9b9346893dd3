#include "phasegen/physics/phasespace.hpp"

#include <torch/csrc/autograd/autograd.h>

#include <cfloat>
#include <cmath>
#include <vector>

#include "phasegen/physics/observables.hpp"
#include "phasegen/eval/stats.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

using test::max_abs;

constexpr double kPi = 3.14159265358979323846;
constexpr double kExact = 1e-12;     // round-off bound, relative to sqrt_s
constexpr double kKsPValue = 1e-3;   // statistical tests reject below this (fixed seeds)

std::int64_t events_for(std::int64_t n) { return n <= 10 ? 20000 : 2000; }

class ConservationTest : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(ConservationTest, UniformGeneratorIsExactToRoundOff) {
  const std::int64_t n = GetParam();
  for (double sqrt_s : {1.0, 91.2, 13000.0}) {
    at::Generator gen = make_generator(7 + n);
    at::Tensor p = sample_uniform_phase_space(events_for(n), n, sqrt_s, gen);
    ASSERT_EQ(p.sizes(), (at::IntArrayRef{events_for(n), n, 4}));
    EXPECT_LE(conservation_violation(p, sqrt_s).max().item<double>(), kExact) << "N=" << n;
    EXPECT_LE(mass_violation(p, sqrt_s).max().item<double>(), kExact) << "N=" << n;
    EXPECT_GE(energies(p).min().item<double>(), 0.0);
  }
}

TEST_P(ConservationTest, MapOfPriorSamplesIsExactToRoundOff) {
  const std::int64_t n = GetParam();
  at::Generator gen = make_generator(100 + n);
  at::Tensor q = sample_rambo_prior(events_for(n), n, gen);
  at::Tensor p = rambo_map(q, 91.2);
  EXPECT_LE(conservation_violation(p, 91.2).max().item<double>(), kExact);
  EXPECT_LE(mass_violation(p, 91.2).max().item<double>(), kExact);
}

TEST_P(ConservationTest, LiftThenMapReturnsTheEvent) {
  const std::int64_t n = GetParam();
  at::Generator gen = make_generator(200 + n);
  at::Tensor p = sample_uniform_phase_space(events_for(n) / 4, n, 91.2, gen);
  for (const LiftOptions& lift : {LiftOptions::random(), LiftOptions::fixed(0.15)}) {
    at::Tensor q = lift_to_qspace(p, lift, gen);
    EXPECT_LE(max_abs(rambo_map(q, 91.2) - p) / 91.2, kExact) << lift.description();
  }
}

INSTANTIATE_TEST_SUITE_P(N, ConservationTest, ::testing::Values(2, 3, 4, 10, 50, 100));

TEST(RamboMap, LargeBoostsKeepAbsolutePrecision) {
  // Nearly collinear q: the rest frame is a boost with gamma up to ~1e7 away. A naive boost
  // loses gamma^2 ulps on particles moving against it.
  std::vector<double> values;
  for (double angle : {1e-2, 1e-4, 1e-6, 1e-7}) {
    values.insert(values.end(), {0.0, 0.0, 1.0, angle, 0.0, 2.0, 0.0, -angle, 0.5});
  }
  at::Tensor q = at::tensor(values, at::kDouble).view({4, 3, 3});
  at::Tensor p = rambo_map(q, 1.0);
  EXPECT_LE(conservation_violation(p, 1.0).max().item<double>(), kExact);
  EXPECT_LE(mass_violation(p, 1.0).max().item<double>(), kExact);
  FibrePoint fibre = fibre_point(q, 1.0);
  EXPECT_GT(fibre.boost.norm(2, 1).max().item<double>(), 1e6);
  at::Tensor back = rambo_inverse(p, fibre);
  // The inverse itself is conditioned like gamma: it may lose gamma ulps, no more.
  EXPECT_LE(max_abs(back - q) / max_abs(q), 1e-6);
}

// With a graph the map returns its exact value bit for bit, and derivatives that match central
// differences of that exact value.
TEST(RamboMap, WithAGraphTheValueIsExactAndTheDerivativeIsRight) {
  at::Generator gen = make_generator(31);
  at::Tensor q = sample_rambo_prior(4, 5, gen);
  at::Tensor exact = rambo_map(q, 91.2);
  at::Tensor leaf = q.clone().requires_grad_();
  at::Tensor p = rambo_map(leaf, 91.2);
  EXPECT_TRUE(at::equal(p.detach(), exact));
  at::Tensor w = at::randn(p.sizes(), gen.clone(), at::kDouble);
  at::Tensor grad = torch::autograd::grad({(p * w).sum()}, {leaf})[0];
  const double h = 1e-6;
  for (std::int64_t k : {0, 7, 22, 59}) {
    at::Tensor up = q.clone(), down = q.clone();
    up.view(-1)[k] += h;
    down.view(-1)[k] -= h;
    const double numeric = ((rambo_map(up, 91.2) - rambo_map(down, 91.2)) * w).sum().item<double>() / (2 * h);
    EXPECT_NEAR(grad.view(-1)[k].item<double>(), numeric, 1e-6 * (1 + std::abs(numeric))) << "coordinate " << k;
  }
  at::Tensor events = rambo_map(q, 91.2).requires_grad_();
  at::Generator lift_gen = make_generator(32);
  at::Tensor lifted = lift_to_qspace(events, LiftOptions::random(), lift_gen);
  at::Generator again = make_generator(32);
  EXPECT_TRUE(at::equal(lifted.detach(), lift_to_qspace(events.detach(), LiftOptions::random(), again)));
  EXPECT_TRUE(torch::autograd::grad({lifted.sum()}, {events})[0].isfinite().all().item<bool>());
}

TEST(RamboMap, FibrePointInverseRecoversQ) {
  at::Generator gen = make_generator(3);
  at::Tensor q = sample_rambo_prior(5000, 4, gen);
  FibrePoint fibre = fibre_point(q, 2.0);
  at::Tensor back = rambo_inverse(rambo_map(q, 2.0), fibre);
  EXPECT_LE(max_abs(back - q) / max_abs(q), 1e-12);
  // x = sqrt_s / M with M the invariant mass of sum q.
  at::Tensor total = massless_momenta(q).sum(1);
  at::Tensor mass = (total.select(1, 0).pow(2) - total.narrow(1, 1, 3).pow(2).sum(1)).sqrt();
  EXPECT_LE(max_abs(fibre.scale * mass / 2.0 - 1.0), 1e-12);
}

TEST(RamboMap, IsPermutationAndRotationEquivariant) {
  at::Generator gen = make_generator(11);
  at::Tensor q = sample_rambo_prior(100, 5, gen);
  at::Tensor p = rambo_map(q, 1.0);
  at::Tensor perm = at::tensor(std::vector<std::int64_t>{3, 0, 4, 1, 2});
  EXPECT_LE(max_abs(rambo_map(q.index_select(1, perm), 1.0) - p.index_select(1, perm)), 1e-14);
  const double c = std::cos(0.7), s = std::sin(0.7);
  at::Tensor rot = at::tensor(std::vector<double>{c, -s, 0, s, c, 0, 0, 0, 1}, at::kDouble).view({3, 3});
  at::Tensor p_rot = rambo_map(at::matmul(q, rot.t()), 1.0);
  at::Tensor expected = at::cat({p.narrow(2, 0, 1), at::matmul(p.narrow(2, 1, 3), rot.t())}, 2);
  EXPECT_LE(max_abs(p_rot - expected), 1e-13);
}

TEST(RamboMap, RejectsBadShapesAndEnergies) {
  at::Tensor bad = at::zeros({4, 3, 4}, at::kDouble);
  EXPECT_ERROR_CONTAINS(rambo_map(bad, 1.0), "expected q of shape [batch, N, 3]");
  EXPECT_ERROR_CONTAINS(rambo_map(at::ones({4, 3, 3}, at::kDouble), 0.0), "expected sqrt_s > 0");
  EXPECT_ERROR_CONTAINS(rambo_map(at::ones({4, 1, 3}, at::kDouble), 1.0), "expected N >= 2");
  at::Generator gen = make_generator(1);
  EXPECT_ERROR_CONTAINS(sample_uniform_phase_space(10, 1, 1.0, gen), "expected N >= 2");
  EXPECT_ERROR_CONTAINS(LiftOptions::fixed(-1.0), "expected a scale x > 0");
}

TEST(RamboMap, SameSeedSameEvents) {
  at::Generator a = make_generator(99);
  at::Generator b = make_generator(99);
  EXPECT_TRUE(at::equal(sample_uniform_phase_space(1000, 6, 1.0, a), sample_uniform_phase_space(1000, 6, 1.0, b)));
  at::Generator c = make_generator(100);
  EXPECT_FALSE(at::equal(sample_uniform_phase_space(10, 6, 1.0, a), sample_uniform_phase_space(10, 6, 1.0, c)));
}

class LiftStatisticsTest : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(LiftStatisticsTest, LiftedFlatEventsFollowTheRamboPrior) {
  const std::int64_t n = GetParam();
  at::Generator gen = make_generator(31 + n);
  at::Tensor p = sample_uniform_phase_space(20000, n, 91.2, gen);
  at::Tensor q = lift_to_qspace(p, LiftOptions::random(), gen);
  at::Tensor r = q.norm(2, 2);
  // One particle per event keeps the sample independent.
  at::Tensor r0 = r.select(1, 0);
  auto ks_r = ks_test(r0, [](const at::Tensor& x) { return gamma_cdf(x, 2.0); });
  EXPECT_GT(ks_r.p_value, kKsPValue) << "|q| ~ Gamma(2,1): D = " << ks_r.statistic;
  at::Tensor cos_theta = q.select(2, 2).select(1, 0) / r0;
  auto ks_c = ks_test(cos_theta, [](const at::Tensor& x) { return (x + 1.0) / 2.0; });
  EXPECT_GT(ks_c.p_value, kKsPValue) << "cos(theta) uniform: D = " << ks_c.statistic;
  at::Tensor q0 = r.sum(1);
  auto ks_q0 = ks_test(q0, [n](const at::Tensor& x) { return gamma_cdf(x, 2.0 * n); });
  EXPECT_GT(ks_q0.p_value, kKsPValue) << "Q0 ~ Gamma(2N,1): D = " << ks_q0.statistic;
  // The same test must see the fixed embedding as far from p_ref.
  at::Tensor fixed = lift_to_qspace(p, LiftOptions::fixed(0.15), gen).norm(2, 2).sum(1);
  EXPECT_LT(ks_test(fixed, [n](const at::Tensor& x) { return gamma_cdf(x, 2.0 * n); }).p_value, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(N, LiftStatisticsTest, ::testing::Values(3, 10));

class FlatEnergyTest : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(FlatEnergyTest, ScaledEnergiesFollowBeta2NMinus2) {
  const std::int64_t n = GetParam();
  at::Generator gen = make_generator(53 + n);
  const double sqrt_s = 91.2;
  at::Tensor p = sample_uniform_phase_space(20000, n, sqrt_s, gen);
  at::Tensor x = energies(p).select(1, 1) * (2.0 / sqrt_s);
  auto ks = ks_test(x, [n](const at::Tensor& t) { return beta_cdf(t, 2.0, n - 2.0); });
  EXPECT_GT(ks.p_value, kKsPValue) << "N=" << n << " D=" << ks.statistic;
  auto wrong = ks_test(x, [n](const at::Tensor& t) { return beta_cdf(t, 2.0, n - 1.0); });
  EXPECT_LT(wrong.p_value, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(N, FlatEnergyTest, ::testing::Values(3, 4, 7, 10, 30));

// float32 uniforms hit 0 once in 2^24 draws; with seed 1 the 18M energy draws below did, and
// -log(0) made a training run's prior draw infinite. Every draw must be finite in both types.
TEST(RamboPrior, Float32DrawsAreAlwaysFinite) {
  at::Generator gen = make_generator(1);
  at::Tensor q = sample_rambo_prior(3000000, 3, gen, at::kFloat);
  EXPECT_TRUE(at::isfinite(q).all().item<bool>());
  EXPECT_LT(q.abs().max().item<double>(), -2.0 * std::log(FLT_MIN));
}

TEST(RamboPrior, ScoreIsTheGradientOfTheLogDensity) {
  at::Generator gen = make_generator(5);
  at::Tensor q = sample_rambo_prior(50, 4, gen).requires_grad_(true);
  at::Tensor logp = rambo_prior_log_density(q).sum();
  at::Tensor grad = torch::autograd::grad({logp}, {q})[0];
  EXPECT_LE(max_abs(grad - rambo_prior_score(q.detach())), 1e-12);
  // The regularised score tends to the exact one as eps -> 0 and is bounded at q -> 0.
  EXPECT_LE(max_abs(rambo_prior_score_regularised(q.detach(), 1e-9) - rambo_prior_score(q.detach())), 1e-6);
  at::Tensor tiny = at::full({1, 2, 3}, 1e-12, at::kDouble);
  EXPECT_LE(max_abs(rambo_prior_score_regularised(tiny, 0.2)), 1.0 + 1e-9);
}

TEST(RamboPrior, LogDensityIsNormalised) {
  // p_ref per particle: e^-r / (4 pi r); check against the closed form at one point.
  at::Tensor q = at::tensor(std::vector<double>{0.0, 0.0, 2.0}, at::kDouble).view({1, 1, 3});
  EXPECT_NEAR(rambo_prior_log_density(q).item<double>(), -2.0 - std::log(8.0 * kPi), 1e-14);
}

TEST(PhaseSpaceVolume, ThreeBodyAtUnitEnergyIsPiSquaredOverEight) {
  EXPECT_NEAR(phase_space_volume(3, 1.0), kPi * kPi / 8.0, 1e-14);
  EXPECT_NEAR(phase_space_volume(2, 91.2), kPi / 2.0, 1e-14);
  EXPECT_NEAR(phase_space_volume(3, 2.0), 4.0 * kPi * kPi / 8.0, 1e-13);
}

TEST(PhaseSpaceVolume, SatisfiesTheTwoBodyRecursion) {
  // Phi_N(s) = int_0^s dm (pi/2)(1 - m/s) Phi_{N-1}(m), m the invariant mass squared of N-1
  // particles; integrated by Simpson's rule on a fine grid.
  const double s = 1.7;
  for (int n = 3; n <= 12; ++n) {
    const int steps = 2000;
    double sum = 0.0;
    for (int k = 0; k <= steps; ++k) {
      const double m = s * k / steps;
      const double weight = (k == 0 || k == steps) ? 1.0 : (k % 2 ? 4.0 : 2.0);
      const double inner = m > 0 ? phase_space_volume(n - 1, std::sqrt(m)) : (n == 3 ? kPi / 2 : 0.0);
      sum += weight * (kPi / 2) * (1 - m / s) * inner;
    }
    const double integral = sum * (s / steps) / 3.0;
    EXPECT_NEAR(integral / phase_space_volume(n, std::sqrt(s)), 1.0, 1e-9) << "N=" << n;
  }
}

TEST(PhaseSpaceVolume, LogVolumeStaysFiniteWhereTheVolumeUnderflows) {
  const double log_v = log_phase_space_volume(200, 1.0);
  EXPECT_TRUE(std::isfinite(log_v));
  EXPECT_EQ(phase_space_volume(200, 1.0), 0.0);
  EXPECT_NEAR(log_phase_space_volume(200, 1.0) - log_phase_space_volume(199, 1.0),
              std::log(kPi / 2) - std::log(199.0) - std::log(198.0), 1e-9);
}

// The event's invariants computed from the state equal those of the decoded event, and a boost
// and a rescaling of the state (another point of its fibre) leave them as they are, to round-off,
// down to the smallest invariants of the singular targets (y ~ 1e-9 here).
TEST(StateInvariants, EqualTheDecodedEventsAndDoNotChangeAlongTheFibre) {
  for (std::int64_t n : {3, 10}) {
    at::Generator gen = make_generator(40 + n);
    at::Tensor q = sample_rambo_prior(2000, n, gen, at::kDouble);
    // Make pair (0, 1) nearly collinear and particle 2 soft in part of the batch.
    at::Tensor near = q.select(1, 0) * (1.0 + 1e-4 * at::randn({2000, 3}, gen, q.options()));
    q.select(1, 1).narrow(0, 0, 1000).copy_(near.narrow(0, 0, 1000) * 0.7);
    q.select(1, 2).narrow(0, 1000, 500).mul_(1e-5);
    const double sqrt_s = 91.2;
    at::Tensor p = rambo_map(q, sqrt_s);
    const StateInvariants inv = state_invariants(q);
    // From the event: y_ij = 2 p_i.p_j / s, x_i = 2 E_i / sqrt_s.
    at::Tensor e = p.select(2, 0);
    at::Tensor unit = p.narrow(2, 1, 3) / e.unsqueeze(2);
    at::Tensor gap = (unit.unsqueeze(2) - unit.unsqueeze(1)).pow(2).sum(-1);
    at::Tensor y_event = e.unsqueeze(2) * e.unsqueeze(1) * gap / (sqrt_s * sqrt_s);
    at::Tensor x_event = 2.0 * e / sqrt_s;
    EXPECT_LE(max_abs((inv.y - y_event) / (y_event + at::eye(n, q.options()))), 1e-9) << "N=" << n;
    EXPECT_LE(max_abs(inv.x - x_event), 1e-13) << "N=" << n;
    EXPECT_EQ(max_abs(inv.y * at::eye(n, q.options())), 0.0);
    EXPECT_LE(max_abs(inv.x.sum(1) - 2.0), 1e-13);
    EXPECT_LT(inv.y.narrow(0, 0, 1000).select(2, 1).select(1, 0).max().item<double>(), 1e-6);
    // Another point of the fibre: q' = (1/x') Lambda(-b') p.
    FibrePoint other = sample_fibre_point(n, at::full({2000}, sqrt_s, q.options()), gen);
    at::Tensor moved = rambo_inverse(p, other);
    EXPECT_GT(max_abs(moved - q), 1e-2);
    const StateInvariants again = state_invariants(moved);
    EXPECT_LE(max_abs((again.y - inv.y) / (inv.y + at::eye(n, q.options()))), 1e-9) << "N=" << n;
    EXPECT_LE(max_abs(again.x - inv.x), 1e-12) << "N=" << n;
    // The network features: rows (ln x_i, ln y_ij for j != i) / 10.
    at::Tensor f = log_invariant_features(q);
    ASSERT_EQ(f.sizes(), (at::IntArrayRef{2000, n, n}));
    auto log_of = [](const at::Tensor& v) { return at::log(v.clamp_min(kInvariantFloor)) / 10.0; };
    EXPECT_LE(max_abs(f.select(2, 0) - log_of(inv.x)), 1e-12);
    EXPECT_LE(max_abs(f.select(1, 0).select(1, 1) - log_of(inv.y.select(2, 1).select(1, 0))), 1e-12);
    EXPECT_LE(max_abs(f.select(1, 2).select(1, 1) - log_of(inv.y.select(2, 0).select(1, 2))), 1e-12);
    EXPECT_LE(max_abs(f.select(1, 2).select(1, 2) - log_of(inv.y.select(2, 1).select(1, 2))), 1e-12);
    EXPECT_GE(f.min().item<double>(), std::log(kInvariantFloor) / 10.0);
  }
}

}  // namespace
}  // namespace phasegen
