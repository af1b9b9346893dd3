#include "phasegen/diffusion.hpp"

#include <torch/nn/module.h>

#include <cmath>

#include "phasegen/models.hpp"
#include "phasegen/observables.hpp"
#include "phasegen/phasespace.hpp"
#include "phasegen/stats.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

// A "network" whose score is the exact reference score: the untrained limit of the model.
class ReferenceScore : public QNetworkImpl {
 public:
  at::Tensor forward(const at::Tensor& q, const at::Tensor&) override { return rambo_prior_score(q); }
  std::string description() const override { return "reference score"; }
  void reset_parameters(at::Generator&) override {}
};

TEST(Schedules, PaperAndExtendedMatchTheirDefinitions) {
  NoiseSchedule paper = NoiseSchedule::paper();
  EXPECT_EQ(paper.steps(), 500);
  EXPECT_DOUBLE_EQ(paper.gamma(1), 0.002);
  EXPECT_NEAR(paper.gamma(500), 0.01, 1e-15);
  EXPECT_NEAR(paper.sigma2(500) / 2, 3.0, 1e-12);
  NoiseSchedule extended = NoiseSchedule::extended();
  EXPECT_EQ(extended.steps(), 1137);
  EXPECT_NEAR(extended.gamma(1), 5e-8, 1e-20);
  EXPECT_NEAR(extended.gamma(137), 5e-8 * std::pow(1.08, 136), 1e-15);
  EXPECT_NEAR(extended.gamma(138), 0.002, 1e-15);
  EXPECT_NEAR(extended.sigma2(1137) / 2, 11.0, 0.05);
  EXPECT_ERROR_CONTAINS(NoiseSchedule::from_name("cosine"), "unknown schedule 'cosine'");
}

TEST(Divergence, ExactDivergenceEqualsFiniteDifferences) {
  auto net = make_network(NetworkOptions().particles(3).hidden(16).layers(2));
  net->to(at::kDouble);
  at::Generator gen = make_generator(4);
  {
    at::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.copy_(at::randn(p.sizes(), gen, p.options()) * 0.5);
  }
  at::Tensor q = at::randn({5, 3, 3}, gen, at::kDouble).requires_grad_(true);
  at::Tensor t = at::rand({5}, gen, at::TensorOptions().dtype(at::kDouble));
  at::Tensor exact = exact_divergence(net->forward(q, t), q);
  at::Tensor fd = at::zeros({5}, at::kDouble);
  const double h = 1e-6;
  {
    at::NoGradGuard no_grad;
    at::Tensor base = q.detach();
    for (std::int64_t k = 0; k < 9; ++k) {
      at::Tensor up = base.clone(), down = base.clone();
      up.view({5, 9}).select(1, k).add_(h);
      down.view({5, 9}).select(1, k).sub_(h);
      fd += (net->forward(up, t).view({5, 9}).select(1, k) - net->forward(down, t).view({5, 9}).select(1, k)) / (2 * h);
    }
  }
  EXPECT_GT(test::max_abs(exact), 1e-3);
  EXPECT_LE(test::max_abs(exact - fd) / test::max_abs(exact), 1e-7);
  // Hutchinson's estimate is unbiased: its mean over many probes approaches the exact value.
  at::Tensor mean = at::zeros({5}, at::kDouble);
  const int probes = 4000;
  at::Tensor out = net->forward(q, t);
  for (int i = 0; i < probes; ++i) mean += hutchinson_divergence(out, q, gen).detach();
  EXPECT_LE(test::max_abs(mean / probes - exact.detach()) / test::max_abs(exact), 0.1);
}

TEST(LangevinDiffusion, ForwardStatesStartAtTheDataAndReachThePrior) {
  DiffusionOptions options;
  options.reference_score = "exact";
  options.schedule = "extended";
  LangevinDiffusion diffusion(options);
  at::Generator gen = make_generator(5);
  at::Tensor q0 = at::full({4000, 3, 3}, 0.3f);  // far from p_ref: all equal
  at::Tensor t = at::full({4000}, 0, at::kLong);
  EXPECT_TRUE(at::equal(diffusion.forward_to(q0, t, gen), q0));
  at::Tensor qt = diffusion.forward_to(q0, at::full({4000}, 1137, at::kLong), gen);
  auto ks = ks_test(qt.select(1, 0).norm(2, 1).to(at::kDouble), [](const at::Tensor& x) { return gamma_cdf(x, 2.0); });
  EXPECT_GT(ks.p_value, 1e-3) << "after total time 11 the forward process is at p_ref; D = " << ks.statistic;
  // Mixed steps in one batch: each example stops at its own t.
  at::Tensor mixed = diffusion.forward_to(q0, at::tensor(std::vector<std::int64_t>{0, 5, 0, 1137}).repeat({1000}), gen);
  EXPECT_TRUE(at::equal(mixed.select(0, 0), q0.select(0, 0)));
  EXPECT_FALSE(at::equal(mixed.select(0, 1), q0.select(0, 1)));
}

TEST(LangevinDiffusion, ReferenceScoreModelSamplesFlatPhaseSpaceExactlyAtEveryStep) {
  // With s = f the reverse step is a Langevin step toward p_ref, so the sampler must return p_ref,
  // hence flat phase space, and every state on the way must be an exact event.
  for (std::int64_t n : {3, 5}) {
    DiffusionOptions options;
    options.reference_score = "exact";
    LangevinModel model(options, LiftOptions::random(), 91.2);
    ReferenceScore net;
    at::Generator gen = make_generator(6 + n);
    double worst = 0.0;
    int states = 0;
    at::Tensor p = model.sample_events(net, 10000, n, gen, 1, [&](std::int64_t, const at::Tensor& events) {
      worst = std::max({worst, conservation_violation(events, 91.2).max().item<double>(),
                        mass_violation(events, 91.2).max().item<double>()});
      ++states;
    });
    EXPECT_EQ(states, 501);
    EXPECT_LE(worst, 1e-12) << "N = " << n;
    at::Tensor x = energies(p).select(1, 0) * (2.0 / 91.2);
    auto ks = ks_test(x, [n](const at::Tensor& v) { return beta_cdf(v, 2.0, n - 2.0); });
    EXPECT_GT(ks.p_value, 1e-3) << "N = " << n << ", D = " << ks.statistic;
  }
}

TEST(LangevinDiffusion, LossIsFiniteForEveryOptionCombination) {
  auto net = make_network(NetworkOptions().particles(3).hidden(16).layers(2));
  at::Generator gen = make_generator(8);
  at::Tensor q0 = sample_rambo_prior(64, 3, gen, at::kFloat);
  for (const std::string param : {"score", "score_over_sigma"}) {
    for (const std::string weighting : {"paper", "sigma2"}) {
      for (const std::string divergence : {"exact", "hutchinson"}) {
        DiffusionOptions o;
        o.parametrisation = param;
        o.weighting = weighting;
        o.divergence = divergence;
        LangevinDiffusion diffusion(o);
        at::Tensor loss = diffusion.loss(*net, q0, gen);
        EXPECT_TRUE(std::isfinite(loss.item<double>())) << param << " " << weighting << " " << divergence;
        loss.backward();
      }
    }
  }
  DiffusionOptions bad;
  bad.divergence = "sliced";
  EXPECT_ERROR_CONTAINS(LangevinDiffusion{bad}, "divergence: expected exact or hutchinson");
}

}  // namespace
}  // namespace phasegen
