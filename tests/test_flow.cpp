#include "phasegen/models/flow.hpp"

#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/models/space.hpp"
#include "phasegen/eval/stats.hpp"
#include "phasegen/physics/targets.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

TEST(GaussianPrior, FitMatchesTheDataMeanAndCovariance) {
  TargetSpec muon;
  muon.kind = TargetKind::kMuon;
  at::Generator gen = make_generator(1);
  at::Tensor p = EventGenerator(muon).generate(40000, gen);
  at::Tensor q = lift_to_qspace(p, LiftOptions::random(), gen);
  GaussianPrior g = GaussianPrior::fit(q);
  at::Tensor x = q.flatten(1);
  at::Tensor centred = x - x.mean(0);
  at::Tensor covariance = at::matmul(centred.t(), centred) / (x.size(0) - 1);
  EXPECT_LE(test::max_abs(g.mean - x.mean(0)), 1e-12);
  EXPECT_LE(test::max_abs(at::matmul(g.cholesky, g.cholesky.t()) - covariance), 1e-10);
  // Its draws reproduce both, within sampling error.
  at::Tensor draws = g.sample(200000, gen).to(at::kDouble).flatten(1);
  at::Tensor dc = draws - draws.mean(0);
  EXPECT_LE(test::max_abs(draws.mean(0) - g.mean), 0.03);
  EXPECT_LE(test::max_abs(at::matmul(dc.t(), dc) / (draws.size(0) - 1) - covariance), 0.05);
  EXPECT_ERROR_CONTAINS(GaussianPrior::fit(q.narrow(0, 0, 5)), "expected more than 9 events");
}

// The unit-variance logistic prior: its density integrates to 1 (and is the logistic's written out),
// its draws follow its CDF 1 / (1 + exp(-x / s)) (KS) with unit variance, and the flow's prior is it.
TEST(LogisticPrior, DensityIsNormalisedAndDrawsFollowIt) {
  const at::Tensor grid = at::linspace(-40.0, 40.0, 400001, at::kDouble).view({-1, 1});
  const at::Tensor density = at::exp(logistic_log_density(grid));
  EXPECT_NEAR(at::trapezoid(density, grid.view({-1})).item<double>(), 1.0, 1e-9);
  const at::Tensor e = at::exp(-grid.view({-1}) / kLogisticScale);
  EXPECT_LE(test::max_abs(density - e / (kLogisticScale * (1.0 + e).pow(2))), 1e-14);
  // A row's density is the product over its coordinates.
  const at::Tensor x = at::tensor({0.3, -2.0, 7.5}, at::kDouble).view({1, 3});
  const double product = logistic_log_density(x.view({3, 1})).sum().item<double>();
  EXPECT_NEAR(logistic_log_density(x).item<double>(), product, 1e-13);

  at::Generator gen = make_generator(8);
  const at::Tensor draws = sample_logistic({200000}, gen, at::kDouble);
  EXPECT_TRUE(at::isfinite(draws).all().item<bool>());
  EXPECT_NEAR(draws.var().item<double>(), 1.0, 0.02);
  auto ks = ks_test(draws, [](const at::Tensor& v) { return at::sigmoid(v / kLogisticScale); });
  EXPECT_GT(ks.p_value, 1e-3);
  FlowMatching flow(FlowPrior::kLogistic, OdeSolver::kEuler, 5);
  flow.set_coordinates(2);
  at::Generator a = make_generator(9), b = make_generator(9);
  const at::Tensor prior = flow.sample_prior(100, 1, a, at::kDouble);
  EXPECT_EQ(prior.sizes(), (std::vector<std::int64_t>{100, 1, 2}));
  EXPECT_EQ(test::max_abs(prior.view({100, 2}) - sample_logistic({100, 1, 2}, b, at::kDouble).view({100, 2})), 0.0);
  EXPECT_LE(test::max_abs(flow.prior_log_density(prior) - logistic_log_density(prior)), 0.0);
}

TEST(FlowMatching, ZeroVelocityKeepsThePriorSoRamboAndNormalPriorsGiveFlatPhaseSpace) {
  auto net = make_network(NetworkOptions().particles(3).hidden(8).layers(1));  // zero output: v = 0
  // p_ref in q-space and N(0, I) in the Gaussianised z-space are both uniform phase space.
  const std::pair<FlowPrior, StateSpace> cases[] = {
      {FlowPrior::kRambo, StateSpace::q_space(LiftOptions::random(), 1.0)},
      {FlowPrior::kNormal, StateSpace::latent(LiftOptions::random(), 1.0)}};
  for (const auto& [prior, space] : cases) {
    FlowMatching flow(prior, OdeSolver::kEuler, 5);
    at::Generator gen = make_generator(6);
    at::Tensor p = space.decode(flow.sample(*net, 20000, 3, gen));
    auto ks = ks_test(energies(p).select(1, 0) * 2.0, [](const at::Tensor& x) { return beta_cdf(x, 2.0, 1.0); });
    EXPECT_GT(ks.p_value, 1e-3) << flow_prior_name(prior);
  }
}

TEST(FlowMatching, LossFallsOnMuonData) {
  TargetSpec muon;
  muon.kind = TargetKind::kMuon;
  at::Generator gen = make_generator(7);
  at::Tensor z0 = StateSpace::latent(LiftOptions::random(), 1.0).encode(EventGenerator(muon).generate(4096, gen), gen);
  auto net = make_network(NetworkOptions().particles(3).hidden(64).layers(2), 1);
  FlowMatching flow(FlowPrior::kNormal, OdeSolver::kHeun, 10);
  auto [first, last] =
      test::first_and_last_losses(*net, z0, 150, [&](const at::Tensor& batch) { return flow.loss(*net, batch, gen); });
  EXPECT_LT(last, first * 0.9);
  EXPECT_ERROR_CONTAINS(FlowMatching(FlowPrior::kGaussian, OdeSolver::kEuler, 5), "needs parameters fitted");
  EXPECT_ERROR_CONTAINS(flow_prior_from_name("laplace"), "unknown prior 'laplace'");
}

}  // namespace
}  // namespace phasegen
