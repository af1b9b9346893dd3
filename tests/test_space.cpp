#include "phasegen/models/space.hpp"

#include <cmath>

#include "phasegen/eval/stats.hpp"
#include "phasegen/models/dalitz.hpp"

#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/targets.hpp"
#include "phasegen/training/train.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

at::Tensor muon_events(std::int64_t n, at::Generator& gen, double sqrt_s = 1.0) {
  TargetSpec muon;
  muon.kind = TargetKind::kMuon;
  muon.sqrt_s = sqrt_s;
  return EventGenerator(muon).generate(n, gen);
}

TEST(StateSpace, QAndLatentStatesDecodeToExactEventsAndBackToTheData) {
  at::Generator gen = make_generator(1);
  at::Tensor p = muon_events(5000, gen, 91.2);
  for (const StateSpace& space : {StateSpace::q_space(LiftOptions::random(), 91.2),
                                  StateSpace::latent(LiftOptions::random(), 91.2),
                                  StateSpace::q_space(LiftOptions::fixed(0.15), 91.2)}) {
    at::Tensor x = space.encode(p, gen);
    EXPECT_EQ(x.scalar_type(), at::kFloat);
    EXPECT_EQ(x.sizes(), (at::IntArrayRef{5000, 3, 3}));
    at::Tensor back = space.decode(x);
    EXPECT_TRUE(space.conserving());
    EXPECT_LE(conservation_violation(back, 91.2).max().item<double>(), 1e-12) << space.description();
    EXPECT_LE(mass_violation(back, 91.2).max().item<double>(), 1e-12) << space.description();
    // The states are float32, so the round trip holds to single precision.
    EXPECT_LE(test::max_abs(back - p) / 91.2, 2e-5) << space.description();
    // Any state at all decodes to an exact event.
    at::Tensor noise = at::randn({2000, 3, 3}, gen, at::TensorOptions().dtype(at::kDouble)) * 3.0;
    EXPECT_LE(conservation_violation(space.decode(noise), 91.2).max().item<double>(), 1e-12);
  }
}

TEST(StateSpace, MomentumStatesHaveUnitVarianceAndDoNotConserve) {
  at::Generator gen = make_generator(2);
  at::Tensor p = muon_events(20000, gen, 91.2);
  const double scale = StateSpace::momentum_scale(p);
  StateSpace space = StateSpace::momentum(scale, 91.2);
  EXPECT_FALSE(space.conserving());
  at::Tensor x = space.encode(p, gen);
  EXPECT_NEAR(x.to(at::kDouble).pow(2).mean().item<double>(), 1.0, 1e-6);
  at::Tensor back = space.decode(x);
  EXPECT_LE(test::max_abs(back - p) / 91.2, 1e-6);
  EXPECT_LE(mass_violation(space.decode(at::randn({100, 3, 3}, gen)), 91.2).max().item<double>(), 1e-12);
  // Free momenta are massless but not conserving.
  EXPECT_GT(conservation_violation(space.decode(at::randn({100, 3, 3}, gen)), 91.2).min().item<double>(), 1e-3);
  EXPECT_ERROR_CONTAINS(StateSpace::momentum(0.0, 1.0), "expected a scale x > 0");
  EXPECT_ERROR_CONTAINS(space.decode(at::zeros({4, 3, 4})), "expected states [batch, N, 3]");
}

at::Tensor qqg_events(std::int64_t n, double msq, at::Generator& gen, double sqrt_s = 91.2) {
  TargetSpec qqg;
  qqg.kind = TargetKind::kQqg;
  qqg.msq = msq;
  qqg.sqrt_s = sqrt_s;
  return EventGenerator(qqg).generate(n, gen);
}

// The Dalitz plane: events go to standardised log-ratios and back (float32 states, so to single
// precision), every state at all decodes to an exact event above the cut, down to invariants of
// 1e-12 (states far out), and the orientation is uniform.
TEST(DalitzSpace, StatesDecodeToExactEventsAboveTheCutAndBackToTheData) {
  at::Generator gen = make_generator(3);
  const double msq = 1e-3;
  at::Tensor p = qqg_events(5000, msq, gen);
  DalitzSpace space(msq, 91.2, DalitzSpace::fit(p, msq));
  at::Tensor s = space.encode(p);
  EXPECT_EQ(s.sizes(), (at::IntArrayRef{5000, 1, 2}));
  EXPECT_EQ(s.scalar_type(), at::kFloat);
  // Standardised: mean 0 and unit covariance over the fitted events.
  EXPECT_LE(test::max_abs(s.mean(0)), 1e-5);
  const at::Tensor flat = s.squeeze(1).to(at::kDouble);
  EXPECT_LE(test::max_abs(at::matmul(flat.t(), flat) / 4999.0 - at::eye(2, flat.options())), 1e-4);
  // Back to the data's invariants (the orientation is not kept: the invariants are compared).
  const at::Tensor back = space.decode(s, uniform_rotations(5000, gen));
  const at::Tensor y = three_body_invariants(p), y_back = three_body_invariants(back);
  EXPECT_LE(test::max_abs((y_back - y) / y), 2e-5);
  // Any state decodes to an exact event with every s_ij/s >= the cut.
  at::Tensor noise = at::randn({4000, 1, 2}, gen, at::TensorOptions().dtype(at::kDouble)) * 8.0;
  at::Tensor events = space.decode(noise, uniform_rotations(4000, gen));
  EXPECT_LE(conservation_violation(events, 91.2).max().item<double>(), 1e-14);
  EXPECT_LE(mass_violation(events, 91.2).max().item<double>(), 1e-14);
  const at::Tensor y_noise = three_body_invariants(events);
  EXPECT_GE(y_noise.min().item<double>(), msq * (1.0 - 1e-12));
  EXPECT_LT(y_noise.min().item<double>(), msq * 1.001);  // the states reach the cut
  EXPECT_LE(test::max_abs(y_noise.sum(1) - 1.0), 1e-14);
  // Without a cut the invariants go down to round-off, and the events stay exact.
  DalitzSpace open(0.0, 91.2, DalitzSpace::fit(p, 0.0));
  at::Tensor far = at::randn({4000, 1, 2}, gen, at::TensorOptions().dtype(at::kDouble)) * 10.0;
  at::Tensor soft = open.decode(far, uniform_rotations(4000, gen));
  EXPECT_LT(three_body_invariants(soft).min().item<double>(), 1e-10);
  EXPECT_LE(conservation_violation(soft, 91.2).max().item<double>(), 1e-14);
  EXPECT_LE(mass_violation(soft, 91.2).max().item<double>(), 1e-14);
  // Uniform orientation: cos(theta) of particle 1 is uniform on [-1, 1].
  const at::Tensor e1 = events.select(1, 0);
  const at::Tensor cos1 = e1.select(1, 3) / e1.select(1, 0);
  EXPECT_GT(ks_test(cos1, [](const at::Tensor& c) { return 0.5 * (c + 1.0); }).p_value, 1e-3);
  // An event at or below the cut is named.
  EXPECT_ERROR_CONTAINS(DalitzSpace::log_ratios(p, 0.2), "not above the model's cut 0.2");
}

}  // namespace
}  // namespace phasegen
