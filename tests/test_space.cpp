#include "phasegen/models/space.hpp"

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

}  // namespace
}  // namespace phasegen
