#include "phasegen/models/diffusion.hpp"

#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/module.h>

#include <cmath>

#include "phasegen/models/families.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/eval/stats.hpp"
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

// The MLP's one-pass divergence is autograd's 3N-backward one (to 1e-5 in float32), and so are the
// weight gradients of a loss through it, for every parametrisation of the Langevin model.
TEST(Divergence, BatchedMlpDivergenceEqualsAutogradsInValueAndWeightGradient) {
  auto net = std::dynamic_pointer_cast<MlpNetworkImpl>(make_network(NetworkOptions().particles(3).hidden(64).layers(3)).ptr());
  ASSERT_TRUE(net);
  at::Generator gen = make_generator(6);
  {
    at::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.copy_(at::randn(p.sizes(), gen, p.options()) * 0.3);
  }
  at::Tensor q = at::randn({40, 3, 3}, gen, at::kFloat);
  at::Tensor t = at::rand({40}, gen, at::kFloat);
  auto [out, div] = net->forward_and_divergence(q, t);
  at::Tensor x = q.clone().requires_grad_(true);
  at::Tensor reference_out = net->forward(x, t);
  at::Tensor reference = exact_divergence(reference_out, x);
  EXPECT_GT(test::max_abs(reference), 1.0);
  EXPECT_LE(test::max_abs(out - reference_out) / test::max_abs(reference_out), 1e-5);
  EXPECT_LE(test::max_abs(div - reference) / test::max_abs(reference), 1e-5);
  auto weight_grads = [&](const at::Tensor& s, const at::Tensor& d) {
    const at::Tensor loss = (0.5 * s.pow(2).flatten(1).sum(1) + d).mean();
    return torch::autograd::grad({loss}, net->parameters(), {}, /*retain_graph=*/true);
  };
  const auto batched = weight_grads(out, div), by_autograd = weight_grads(reference_out, reference);
  for (std::size_t i = 0; i < batched.size(); ++i) {
    EXPECT_LE(test::max_abs(batched[i] - by_autograd[i]), 1e-5 * (1.0 + test::max_abs(by_autograd[i]))) << "parameter " << i;
  }
  // Through the diffusion: the loss takes the batched path for the MLP, with the same value as
  // the 3N backward passes (same generator state, so the same times and forward states).
  at::Tensor q0 = sample_rambo_prior(64, 3, gen, at::kFloat);
  for (const std::string param : {"score", "score_over_sigma"}) {
    DiffusionOptions o;
    o.parametrisation(kScoreParametrisationNames.parse(param));
    o.divergence(kDivergenceEstimateNames.parse("exact"));
    LangevinDiffusion diffusion(o);
    at::Generator a = make_generator(9), b = make_generator(9);
    const at::Tensor fast = diffusion.loss(*net, q0, a);
    // The same loss by autograd: the generic path, forced by wrapping the MLP.
    struct Wrapped : QNetworkImpl {
      explicit Wrapped(std::shared_ptr<MlpNetworkImpl> inner) : inner_(std::move(inner)) {}
      at::Tensor forward(const at::Tensor& q, const at::Tensor& t) override { return inner_->forward(q, t); }
      std::string description() const override { return "wrapped"; }
      void reset_parameters(at::Generator&) override {}
      std::shared_ptr<MlpNetworkImpl> inner_;
    } wrapped(net);
    const at::Tensor slow = diffusion.loss(wrapped, q0, b);
    EXPECT_NEAR(fast.item<double>(), slow.item<double>(), 1e-5 * std::abs(slow.item<double>())) << param;
  }
}

TEST(LangevinDiffusion, ForwardStatesStartAtTheDataAndReachThePrior) {
  DiffusionOptions options;
  options.reference_score(kReferenceScoreNames.parse("exact"));
  options.schedule(kLangevinScheduleNames.parse("extended"));
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
    options.reference_score(kReferenceScoreNames.parse("exact"));
    LangevinFamily model(options, LiftOptions::random(), 91.2);
    ReferenceScore net;
    at::Generator gen = make_generator(6 + n);
    double worst = 0.0;
    int states = 0;
    at::Tensor p = model.sample(net, 10000, n, gen, 1, [&](std::int64_t, const at::Tensor& events) {
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

TEST(LangevinDiffusion, SamplerGridsAndEvaluations) {
  DiffusionOptions o;  // paper schedule: T = 500, total time 3
  const LangevinDiffusion full(o);
  EXPECT_EQ(full.options().nfe(), 500);
  EXPECT_EQ(full.evaluations(), 500);
  ASSERT_EQ(full.time_grid().size(), 501u);
  for (std::size_t k = 0; k < full.time_grid().size(); ++k) EXPECT_EQ(full.time_grid()[k], 500.0 - k);
  for (std::int64_t t : {0, 1, 250, 500}) EXPECT_NEAR(full.tau(t), full.schedule().sigma2(t) / 2.0, 1e-15);
  EXPECT_NEAR(full.tau(500), 3.0, 1e-12);
  EXPECT_NEAR(full.tau(0.5), 0.5 * full.schedule().gamma(1), 1e-15);

  o.nfe(50);  // every 10th step
  const LangevinDiffusion strided(o);
  EXPECT_EQ(strided.evaluations(), 50);
  ASSERT_EQ(strided.time_grid().size(), 51u);
  EXPECT_EQ(strided.time_grid()[1], 490.0);
  EXPECT_EQ(strided.time_grid().back(), 0.0);

  o.sampler(kLangevinSamplerNames.parse("heun"));
  o.nfe(19);  // 10 steps: 9 Heun steps (2 evaluations) and a last Euler step
  const LangevinDiffusion heun(o);
  EXPECT_EQ(heun.sampler_steps(), 10);
  EXPECT_EQ(heun.evaluations(), 19);
  EXPECT_EQ(heun.time_grid()[1], 450.0);

  o.nfe(0);
  EXPECT_ERROR_CONTAINS(LangevinDiffusion{o}, "the heun sampler needs a number of evaluations");
  o.nfe(501);
  EXPECT_ERROR_CONTAINS(LangevinDiffusion{o}, "nfe: expected 1 to 500 evaluations");
  EXPECT_ERROR_CONTAINS(kLangevinSamplerNames.parse("ddim"), "sampler: expected em or heun");
}

TEST(LangevinDiffusion, ProbabilityFlowHeunIntegratesALinearFieldAtSecondOrder) {
  // With s(Q, t) = f(Q) - a Q the probability-flow ODE dQ/dtau = f - s is dQ/dtau = a Q, so going
  // from tau(T) = 3 down to 0 gives Q_0 = Q_T exp(-3 a): a check of the sign, of the time map and of
  // the order (error / 4 when the steps are halved; the last Euler step keeps it second order).
  const double a = 0.4;
  at::Generator gen = make_generator(12);
  at::Tensor q_T = sample_rambo_prior(64, 4, gen, at::kDouble);
  std::vector<double> errors;
  for (std::int64_t nfe : {39, 79, 159}) {
    DiffusionOptions o;
    o.reference_score(kReferenceScoreNames.parse("exact"));
    o.sampler(kLangevinSamplerNames.parse("heun"));
    o.nfe(nfe);
    const LangevinDiffusion diffusion(o);
    int calls = 0;
    auto score = [&](const at::Tensor& q, double) {
      ++calls;
      return diffusion.reference_score(q) - a * q;
    };
    at::Tensor q0 = diffusion.run(score, q_T, gen);
    EXPECT_EQ(calls, nfe);
    errors.push_back(((q0 - q_T * std::exp(-3.0 * a)).abs().max() / q_T.abs().max()).item<double>());
  }
  EXPECT_LT(errors[0], 1e-3);
  for (std::size_t k = 1; k < errors.size(); ++k) {
    const double ratio = errors[k - 1] / errors[k];
    EXPECT_GT(ratio, 3.0) << "errors " << errors[k - 1] << " -> " << errors[k];
    EXPECT_LT(ratio, 5.0) << "errors " << errors[k - 1] << " -> " << errors[k];
  }
}

TEST(LangevinDiffusion, StridedEulerMaruyamaTakesTheSummedGammaPerStep) {
  // With s = (f + c Q) / 2 the reverse drift is g c Q: the mean of Q moves by the product of
  // (1 + g_k c) over the merged steps, g_k the summed gamma of step k, and the noise has mean zero.
  const double c = -0.5;
  DiffusionOptions o;
  o.reference_score(kReferenceScoreNames.parse("exact"));
  o.nfe(25);  // strides of 20 steps
  const LangevinDiffusion diffusion(o);
  at::Generator gen = make_generator(13);
  const std::int64_t n = 50000;
  at::Tensor q_T = at::full({n, 3, 3}, 1.0, at::kDouble);
  std::vector<double> seen;
  auto score = [&](const at::Tensor& q, double t) {
    seen.push_back(t);
    return 0.5 * (diffusion.reference_score(q) + c * q);
  };
  at::Tensor q0 = diffusion.run(score, q_T, gen);
  ASSERT_EQ(seen.size(), 25u);
  double expected = 1.0;
  for (std::size_t k = 0; k < seen.size(); ++k) {
    EXPECT_EQ(seen[k], 500.0 - 20.0 * k);
    expected *= 1.0 + c * (diffusion.tau(seen[k]) - diffusion.tau(seen[k] - 20.0));
  }
  // The noise adds at most sqrt(2 * 3) = 2.4 standard deviations per coordinate: the mean of 450k
  // coordinates is known to 3.6e-3 (4 sigma: 1.5e-2). Unmerged gammas would give 0.9 instead of 0.2.
  EXPECT_NEAR(q0.mean().item<double>(), expected, 1.5e-2);
}

// On a network with random weights (an untrained one predicts 0 and its loss is 0), every
// combination of options gives a finite, non-zero loss with finite, non-zero weight gradients, and
// Hutchinson's divergence is unbiased: drawn after the same times and noise as the exact one (same
// seed), the mean of the differences over 48 seeds is within 4 standard errors of zero.
TEST(LangevinDiffusion, LossValuesForEveryOptionCombination) {
  auto net = make_network(NetworkOptions().particles(3).hidden(16).layers(2).time_embedding(8));
  {
    at::Generator init = make_generator(21);
    at::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.uniform_(-0.5, 0.5, init);
  }
  at::Generator data = make_generator(8);
  const at::Tensor q0 = sample_rambo_prior(64, 3, data, at::kFloat);
  for (const std::string param : {"score", "score_over_sigma"}) {
    for (const std::string weighting : {"paper", "sigma2"}) {
      DiffusionOptions o;
      o.parametrisation(kScoreParametrisationNames.parse(param));
      o.weighting(kLossWeightingNames.parse(weighting));
      const LangevinDiffusion exact(o);
      const LangevinDiffusion hutchinson(DiffusionOptions(o).divergence(DivergenceEstimate::kHutchinson));
      double sum = 0, sum2 = 0;
      const int seeds = 48;
      for (int k = 0; k < seeds; ++k) {
        at::Generator ga = make_generator(100 + k), gb = make_generator(100 + k);
        const at::Tensor le = exact.loss(*net, q0, ga);
        const at::Tensor lh = hutchinson.loss(*net, q0, gb);
        ASSERT_TRUE(std::isfinite(le.item<double>()) && std::isfinite(lh.item<double>())) << param << " " << weighting;
        EXPECT_NE(le.item<double>(), 0.0) << param << " " << weighting;
        if (k == 0) {
          net->zero_grad();
          le.backward();
          double norm = 0;
          for (const auto& p : net->parameters()) norm += p.grad().pow(2).sum().item<double>();
          EXPECT_TRUE(std::isfinite(norm) && norm > 0) << param << " " << weighting;
        }
        const double d = lh.item<double>() - le.item<double>();
        sum += d;
        sum2 += d * d;
      }
      const double mean = sum / seeds, sd = std::sqrt(std::max(0.0, sum2 / seeds - mean * mean));
      EXPECT_LE(std::abs(mean), 4 * sd / std::sqrt(seeds - 1.0) + 1e-6) << param << " " << weighting;
    }
  }
  EXPECT_ERROR_CONTAINS(kDivergenceEstimateNames.parse("sliced"), "divergence: expected exact or hutchinson");
}

}  // namespace
}  // namespace phasegen
