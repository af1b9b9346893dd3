#include "phasegen/models/vp.hpp"

#include <cmath>

#include "phasegen/models/diffusion.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/models/space.hpp"
#include "phasegen/eval/stats.hpp"
#include "phasegen/physics/targets.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

VpDiffusion make_vp(const std::string& sampler, std::int64_t nfe, const std::string& grid = "logsnr",
                    const std::string& schedule = "linear") {
  VpOptions o;
  o.sampler(kVpSamplerNames.parse(sampler));
  o.nfe(nfe);
  o.grid(kVpGridNames.parse(grid));
  o.schedule(kVpScheduleNames.parse(schedule));
  return VpDiffusion(o);
}

const char* const kSamplers[] = {"ddpm", "ddim", "heun", "dpmpp2m"};

TEST(VpSchedule, LinearAndPaperScheduleValues) {
  VpSchedule linear = VpSchedule::linear();
  EXPECT_NEAR(linear.log_alpha2(1.0), -10.05, 1e-12);
  EXPECT_DOUBLE_EQ(linear.alpha(0.0), 1.0);
  EXPECT_DOUBLE_EQ(linear.sigma(0.0), 0.0);
  EXPECT_NEAR(linear.alpha(0.3) * linear.alpha(0.3) + linear.sigma(0.3) * linear.sigma(0.3), 1.0, 1e-15);
  for (double t : {1e-3, 0.1, 0.5, 0.99}) EXPECT_NEAR(linear.time_of_log_snr(linear.log_snr(t)), t, 1e-12);
  // The paper's p-space DDPM: alpha^2 at step k is prod_{j <= k} (1 - 2 gamma_j).
  VpSchedule paper = VpSchedule::paper();
  NoiseSchedule gammas = NoiseSchedule::paper();
  EXPECT_EQ(paper.discrete_steps(), 500);
  double product = 1.0;
  for (int k = 1; k <= 500; ++k) {
    product *= 1.0 - 2.0 * gammas.gamma(k);
    if (k % 50 == 0) {
      EXPECT_NEAR(std::exp(paper.log_alpha2(k / 500.0)) / product, 1.0, 1e-12) << k;
    }
  }
  at::Generator gen = make_generator(1);
  auto [t, log_alpha2] = paper.sample_times(1000, gen);
  EXPECT_LE(test::max_abs(t * 500.0 - at::round(t * 500.0)), 1e-9);
  EXPECT_GE(t.min().item<double>(), 1.0 / 500 - 1e-12);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(log_alpha2[i].item<double>(), paper.log_alpha2(t[i].item<double>()), 1e-12);
  EXPECT_ERROR_CONTAINS(VpSchedule::from_name("cosine"), "unknown VP schedule 'cosine'");
}

TEST(VpDiffusion, BudgetsAndGrids) {
  for (std::int64_t nfe : {5, 10, 20, 50, 100, 500}) {
    for (const char* name : kSamplers) {
      VpDiffusion vp = make_vp(name, nfe);
      EXPECT_LE(vp.evaluations(), nfe);
      EXPECT_GE(vp.evaluations(), nfe - 1);
      // The sampler uses exactly the evaluations it reports.
      std::int64_t calls = 0;
      auto eps = [&](const at::Tensor& x, double) {
        ++calls;
        return at::zeros_like(x);
      };
      at::Generator gen = make_generator(2);
      vp.run(eps, at::randn({4, 2, 3}, gen, at::kDouble), gen);
      EXPECT_EQ(calls, vp.evaluations()) << name << " " << nfe;
      std::vector<double> grid = vp.time_grid();
      EXPECT_EQ(grid.front(), 1.0);
      EXPECT_EQ(grid.back(), 0.0);
      for (std::size_t i = 1; i < grid.size(); ++i) EXPECT_LT(grid[i], grid[i - 1]);
    }
  }
  EXPECT_ERROR_CONTAINS(make_vp("euler", 10), "unknown sampler 'euler'");
  EXPECT_ERROR_CONTAINS(make_vp("ddim", 0), "expected at least 1 network evaluation");
  EXPECT_ERROR_CONTAINS(make_vp("ddim", 10, "cubic"), "grid: expected time or logsnr");
}

// With data a point mass at mu, eps(x, t) = (x - alpha mu) / sigma is exact, and every sampler lands
// on mu in any number of steps: DDIM and DPM-Solver++ follow the exact solution, Heun's slope is
// constant in (y, kappa), and the ancestral sampler's last step is the exact denoiser.
TEST(VpDiffusion, EverySamplerMapsAPointMassExactlyWithAPerfectEpsilonModel) {
  at::Generator gen = make_generator(3);
  const at::Tensor mu = at::randn({1, 4, 3}, gen, at::kDouble);
  for (const char* grid : {"time", "logsnr"}) {
    for (const char* name : kSamplers) {
      for (std::int64_t nfe : {1, 3, 10, 50}) {
        VpDiffusion vp = make_vp(name, nfe, grid);
        auto eps = [&](const at::Tensor& x, double t) {
          return (x - vp.schedule().alpha(t) * mu) / vp.schedule().sigma(t);
        };
        at::Tensor x0 = vp.run(eps, at::randn({1000, 4, 3}, gen, at::kDouble), gen);
        EXPECT_LE(test::max_abs(x0 - mu), 1e-10) << name << ", " << nfe << " NFE, " << grid << " grid";
      }
    }
  }
}

// Gaussian toy, data N(mu, s^2 I): eps(x, t) = sigma (x - alpha mu) / (alpha^2 s^2 + sigma^2). In
// y = x / alpha, kappa = sigma / alpha the probability-flow ODE is solved by
// y(kappa) - mu = (y_1 - mu) sqrt((s^2 + kappa^2) / (s^2 + kappa_1^2)), which maps the exact t = 1
// marginal N(alpha_1 mu, (alpha_1^2 s^2 + sigma_1^2) I) onto the data exactly. The order of each
// solver shows on the state before the last step (the last step is the denoiser, the same for all).
TEST(VpDiffusion, DeterministicSamplersConvergeToTheExactFlowOfAGaussianToy) {
  const double mu = 0.7, s = 0.3;
  const VpSchedule schedule = VpSchedule::linear();
  auto eps = [&](const at::Tensor& x, double t) {
    const double a = schedule.alpha(t), sg = schedule.sigma(t);
    return sg * (x - a * mu) / (a * a * s * s + sg * sg);
  };
  const double a1 = schedule.alpha(1.0), k1 = schedule.sigma(1.0) / a1;
  at::Generator gen = make_generator(4);
  at::Tensor x1 = a1 * mu + std::sqrt(a1 * a1 * s * s + (1 - a1 * a1)) * at::randn({20000, 1, 3}, gen, at::kDouble);
  auto exact_at = [&](double t) {
    const double a = schedule.alpha(t), k = schedule.sigma(t) / a;
    return a * (mu + (x1 / a1 - mu) * std::sqrt((s * s + k * k) / (s * s + k1 * k1)));
  };
  auto error = [&](const char* name, std::int64_t nfe) {
    VpDiffusion vp = make_vp(name, nfe);
    double e = -1;
    vp.run(eps, x1, gen, [&](std::int64_t step, double t, const at::Tensor& x) {
      if (step == vp.steps() - 1) e = test::max_abs(x - exact_at(t));
    });
    return e;
  };
  // First order (DDIM) and second order (Heun, DPM-Solver++(2M)).
  const double ddim_50 = error("ddim", 50), ddim_200 = error("ddim", 200);
  EXPECT_LT(ddim_200, 2e-2);
  EXPECT_LT(ddim_200, ddim_50 / 3.0) << ddim_50 << " -> " << ddim_200;
  for (const char* name : {"heun", "dpmpp2m"}) {
    const double coarse = error(name, 25), fine = error(name, 100);
    EXPECT_LT(fine, 1e-2) << name;
    EXPECT_LT(fine, coarse / 8.0) << name << ": " << coarse << " -> " << fine;
  }
  // The samples follow N(mu, s^2), the ancestral sampler's too.
  for (const char* name : {"ddim", "ddpm", "dpmpp2m", "heun"}) {
    at::Tensor out = make_vp(name, 200).run(eps, x1, gen).flatten();
    auto ks = ks_test(out, [&](const at::Tensor& x) { return 0.5 * at::erfc(-(x - mu) / (s * std::sqrt(2.0))); });
    EXPECT_GT(ks.p_value, 1e-3) << name << " D = " << ks.statistic;
  }
}

TEST(VpDiffusion, EveryStateOfEverySamplerIsAnExactEventInZSpace) {
  auto net = make_network(NetworkOptions().particles(4).hidden(16).layers(2), 3);
  {
    at::NoGradGuard no_grad;
    at::Generator init = make_generator(4);
    for (auto& p : net->parameters()) p.copy_(at::randn(p.sizes(), init, p.options()) * 0.3);
  }
  const StateSpace space = StateSpace::latent(LiftOptions::random(), 91.2);
  at::Generator gen = make_generator(5);
  for (const char* grid : {"time", "logsnr"}) {
    for (const char* name : kSamplers) {
      VpDiffusion vp = make_vp(name, 12, grid);
      std::int64_t states = 0;
      double worst = 0;
      vp.sample(*net, 300, 4, gen, [&](std::int64_t step, double, const at::Tensor& x) {
        EXPECT_EQ(step, states);
        at::Tensor events = space.decode(x);
        worst = std::max({worst, conservation_violation(events, 91.2).max().item<double>(),
                          mass_violation(events, 91.2).max().item<double>()});
        ++states;
      });
      EXPECT_EQ(states, vp.steps() + 1);
      EXPECT_LE(worst, 1e-12) << name << ", " << grid;
    }
  }
}

TEST(VpDiffusion, DenoisingLossFallsOnMuonDataInZSpace) {
  TargetSpec muon;
  muon.kind = TargetKind::kMuon;
  at::Generator gen = make_generator(7);
  at::Tensor z0 = StateSpace::latent(LiftOptions::random(), 1.0).encode(EventGenerator(muon).generate(4096, gen), gen);
  auto net = make_network(NetworkOptions().particles(3).hidden(64).layers(2), 1);
  VpDiffusion vp = make_vp("dpmpp2m", 10);
  auto [first, last] =
      test::first_and_last_losses(*net, z0, 200, [&](const at::Tensor& batch) { return vp.loss(*net, batch, gen); });
  // eps is 9 unit normals: an untrained (zero) network scores 9.
  EXPECT_NEAR(first, 9.0, 1.5);
  EXPECT_LT(last, first * 0.9);
}

}  // namespace
}  // namespace phasegen
