// The exact density of a flow sampler's events and the importance weights built on it.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <vector>

#include "phasegen/core/random.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/models/families.hpp"
#include "phasegen/models/model.hpp"
#include "phasegen/models/nn.hpp"
#include "phasegen/models/ode.hpp"
#include "phasegen/models/weighted.hpp"
#include "phasegen/eval/stats.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/physics/targets.hpp"
#include "phasegen/training/train.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

constexpr double kPi = 3.14159265358979323846;

EventSet events_of(TargetSpec spec, std::int64_t n, std::uint64_t seed) {
  at::Generator gen = make_generator(seed);
  EventSet data;
  data.momenta = EventGenerator(spec).generate(n, gen);
  data.sqrt_s = spec.sqrt_s;
  data.pdg_ids = spec.pdg_ids();
  return data;
}

TargetSpec target(TargetKind kind, double msq = 1e-3) {
  TargetSpec spec;
  spec.kind = kind;
  spec.msq = msq;
  return spec;
}

// A small flow model trained for `steps` steps of batch 256 on `data`.
Model trained(ModelSpec spec, const EventSet& data, std::int64_t steps) {
  Model m(std::move(spec), data, 1);
  if (steps > 0) {
    const std::filesystem::path checkpoint =
        std::filesystem::temp_directory_path() / ("phasegen-density-" + std::to_string(::getpid()) + ".ckpt");
    Trainer(m, TrainOptions().batch(256).steps(steps).lr(3e-3).warmup(5).validate_every(1000).checkpoint_every(1000)
                   .checkpoint(checkpoint.string()).seed(2))
        .run(data.momenta);
    std::filesystem::remove(checkpoint);
  }
  return m;
}

ModelSpec flow_spec(FlowPriorChoice prior, OdeSolver solver = OdeSolver::kHeun, std::int64_t nfe = 8) {
  ModelSpec s(ModelKind::kFlow);
  s.network().hidden(32).layers(2).time_embedding(16);
  s.flow().prior(prior).solver(solver).nfe(nfe);
  return s;
}

// The linear field v = A x: each step is a matrix, whose determinant is known in closed form.
TEST(IntegrateWithLogDet, ALinearFieldGivesItsKnownDeterminant) {
  at::Generator gen = make_generator(3);
  const std::int64_t d = 6;
  const at::Tensor a = 0.7 * at::randn({d, d}, gen, at::kDouble);
  const at::Tensor x = at::randn({5, 2, 3}, gen, at::kDouble);
  auto field = [&](const at::Tensor& s, double) { return at::matmul(s.reshape({-1, d}), a.t()).view(s.sizes()); };
  auto jacobian_field = [&](const at::Tensor& s, double t) {
    return std::make_pair(field(s, t), a.expand({s.size(0), d, d}));
  };
  const std::int64_t steps = 7;
  const double h = -1.0 / steps;
  const at::Tensor eye = at::eye(d, at::kDouble), ha = h * a;
  const at::Tensor ha2 = at::matmul(ha, ha), ha3 = at::matmul(ha2, ha), ha4 = at::matmul(ha3, ha);
  const std::vector<std::pair<OdeSolver, at::Tensor>> cases = {
      {OdeSolver::kEuler, eye + ha},
      {OdeSolver::kHeun, eye + ha + 0.5 * ha2},
      {OdeSolver::kRk4, eye + ha + ha2 / 2.0 + ha3 / 6.0 + ha4 / 24.0}};
  for (const auto& [solver, step] : cases) {
    const IntegratedMap m = integrate_with_log_det(jacobian_field, x, 1.0, 0.0, steps, solver);
    const double expected = static_cast<double>(steps) * std::get<1>(at::linalg_slogdet(step)).item<double>();
    EXPECT_NEAR(test::max_abs(m.log_det - expected), 0.0, 1e-11) << ode_solver_name(solver);
    // The same states as integrate() (the same arithmetic), and every step invertible here.
    EXPECT_EQ(test::max_abs(m.x - integrate(field, x, 1.0, 0.0, steps, solver)), 0.0) << ode_solver_name(solver);
    const bool positive = std::get<0>(at::linalg_slogdet(step)).item<double>() > 0;
    EXPECT_EQ(m.nonpositive.sum().item<std::int64_t>(), positive ? 0 : 5 * steps) << ode_solver_name(solver);
  }
  // A step that folds space (det < 0) is reported for every row.
  // With h = -1, I + h J = diag(-2, 1, 1, 1, 1, 1).
  at::Tensor flip = at::zeros({d, d}, at::kDouble);
  flip[0][0] = 3.0;
  auto folding = [&](const at::Tensor& s, double) {
    return std::make_pair(at::matmul(s.reshape({-1, d}), flip.t()).view(s.sizes()), flip.expand({s.size(0), d, d}));
  };
  EXPECT_EQ(integrate_with_log_det(folding, x, 1.0, 0.0, 1, OdeSolver::kEuler).nonpositive.sum().item<std::int64_t>(), 5);
}

// An untrained network predicts v = 0: the sampler is the identity and the density the prior's.
TEST(SamplerDensity, ZeroVelocityGivesThePriorsDensity) {
  const EventSet muon = events_of(target(TargetKind::kMuon), 2000, 1);
  for (FlowPriorChoice prior : {FlowPriorChoice::kRambo, FlowPriorChoice::kLatent}) {
    const Model m = trained(flow_spec(prior), muon, 0);
    const DensityResult r = m.sample_with_density(300, SampleOptions().seed(4).batch(100));
    // The prior is the reference (p_ref, or N(0, I) in z-space): the ratio is 1.
    EXPECT_LT(test::max_abs(r.log_ratio), 1e-12) << kFlowPriorChoiceNames.name(prior);
    EXPECT_EQ(r.nonpositive_events, 0);
    EXPECT_LE(r.worst_violation, 1e-14);
  }
  // The fitted Gaussian: log g is its log-density at the draw, the ratio log N_fit - log p_ref.
  at::Generator gen = make_generator(5);
  const at::Tensor q = lift_to_qspace(muon.momenta, LiftOptions::random(), gen);
  FlowMatching flow(FlowPrior::kGaussian, OdeSolver::kRk4, 8, GaussianPrior::fit(q));
  QNetwork net = make_network(NetworkOptions().particles(3).hidden(16).layers(1).time_embedding(8));
  net->to(at::kDouble);
  at::Generator draw = make_generator(6), again = make_generator(6);
  const FlowDensitySample s = flow.sample_with_density(*net, 200, 3, draw);
  const at::Tensor x = flow.sample_prior(200, 3, again, at::kDouble);
  EXPECT_EQ(test::max_abs(s.x - x), 0.0);
  EXPECT_LT(test::max_abs(s.log_density - flow.gaussian()->log_density(x)), 1e-12);
  // Against the Gaussian's density written out.
  const at::Tensor centred = x.flatten(1) - flow.gaussian()->mean;
  const at::Tensor cov = at::matmul(flow.gaussian()->cholesky, flow.gaussian()->cholesky.t());
  const at::Tensor quad = (at::matmul(centred, at::linalg_inv(cov)) * centred).sum(1);
  const at::Tensor direct = -0.5 * quad - 0.5 * std::log(at::linalg_det(cov).item<double>()) - 4.5 * std::log(2 * kPi);
  EXPECT_LT(test::max_abs(s.log_density - direct), 1e-9);
}

// The log-density of a trained model's sampler equals the one from a finite-difference Jacobian of
// the whole sampler map (prior draw -> state), in float64, for each solver and each way the network
// Jacobian is formed (the MLP's tangents; reverse mode through features and the pair-biased transformer).
TEST(SamplerDensity, TrainedModelMatchesAFiniteDifferenceJacobian) {
  const EventSet muon = events_of(target(TargetKind::kMuon), 4000, 2);
  at::Generator gen = make_generator(7);
  const at::Tensor q = lift_to_qspace(muon.momenta, LiftOptions::random(), gen).to(at::kFloat);
  struct Case {
    const char* name;
    NetworkOptions net;
    InputFeatures features;
  };
  const InputFeatures invariants = [](const at::Tensor& x) {
    return log_invariant_features(x.to(at::kDouble)).to(x.scalar_type());
  };
  const std::vector<Case> cases = {
      {"mlp", NetworkOptions().particles(3).hidden(32).layers(2).time_embedding(16), {}},
      {"mlp + invariants", NetworkOptions().particles(3).hidden(32).layers(2).time_embedding(16).extra_inputs(3), invariants},
      {"pair-biased transformer",
       NetworkOptions().kind(NetworkKind::kTransformer).particles(3).model_dim(16).blocks(1).heads(2).time_embedding(16)
           .pair_bias(true).pair_hidden(8),
       {}}};
  for (const Case& c : cases) {
    QNetwork net = make_network(c.net, 3);
    FlowMatching flow(FlowPrior::kRambo, OdeSolver::kHeun, 8);
    flow.set_features(c.features);
    at::Generator train_gen = make_generator(8);
    test::first_and_last_losses(*net, q, 150, [&](const at::Tensor& batch) { return flow.loss(*net, batch, train_gen); });
    net->to(at::kDouble);
    for (OdeSolver solver : {OdeSolver::kEuler, OdeSolver::kHeun, OdeSolver::kRk4}) {
      FlowMatching f(FlowPrior::kRambo, solver, 4 * evaluations_per_step(solver));
      f.set_features(c.features);
      at::Generator draw = make_generator(9), again = make_generator(9);
      const FlowDensitySample s = f.sample_with_density(*net, 4, 3, draw);
      const at::Tensor x = f.sample_prior(4, 3, again, at::kDouble);
      const std::int64_t steps = steps_for_budget(solver, f.nfe()), d = 9;
      auto field = [&](const at::Tensor& state, double t) {
        at::NoGradGuard no_grad;
        return net->forward_with(state, at::full({state.size(0)}, t, state.options()), c.features);
      };
      auto map = [&](const at::Tensor& start) { return integrate(field, start, 1.0, 0.0, steps, solver).flatten(1); };
      EXPECT_LT(test::max_abs(s.x.flatten(1) - map(x)), 1e-13) << c.name << ", " << ode_solver_name(solver);
      // Central differences, column j from x +- eps e_j, for all events at once.
      const double eps = 1e-5;
      const at::Tensor e = at::eye(d, at::kDouble).view({1, d, 3, 3}) * eps;
      const at::Tensor plus = map((x.unsqueeze(1) + e).reshape({-1, 3, 3})).view({4, d, d});
      const at::Tensor minus = map((x.unsqueeze(1) - e).reshape({-1, 3, 3})).view({4, d, d});
      const at::Tensor jacobian = ((plus - minus) / (2 * eps)).transpose(1, 2);  // [b, i, j] = d out_i / d x_j
      const at::Tensor fd_log_density = f.prior_log_density(x) - std::get<1>(at::linalg_slogdet(jacobian));
      EXPECT_LT(test::max_abs(s.log_density - fd_log_density), 1e-6) << c.name << ", " << ode_solver_name(solver);
      // The map moves the draws: the test compares a Jacobian that is not the identity's.
      EXPECT_GT(test::max_abs(s.log_density - f.prior_log_density(x)), 1e-3) << c.name << ", " << ode_solver_name(solver);
      EXPECT_EQ(s.nonpositive.sum().item<std::int64_t>(), 0);
    }
  }
  // The MLP's forward-mode Jacobian equals the reverse-mode one of the base class.
  QNetwork net = make_network(NetworkOptions().particles(3).hidden(32).layers(3).time_embedding(16), 4);
  net->to(at::kDouble);
  {
    at::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.normal_(0.0, 0.3);
  }
  auto* mlp = dynamic_cast<MlpNetworkImpl*>(net.ptr().get());
  ASSERT_NE(mlp, nullptr);
  at::Generator g = make_generator(10);
  const at::Tensor x = at::randn({1500, 3, 3}, g, at::kDouble);
  const at::Tensor t = at::rand({1500}, g, at::kDouble);
  const auto [v1, j1] = mlp->forward_and_jacobian(x, t, {});
  const auto [v2, j2] = mlp->QNetworkImpl::forward_and_jacobian(x, t, {});
  EXPECT_LT(test::max_abs(v1 - v2), 1e-13);
  EXPECT_LT(test::max_abs(j1 - j2), 1e-12);
  EXPECT_GT(test::max_abs(j1), 1e-2);
}

// A deliberately wrong model (a q-space flow trained on q qbar g events) reweighted to muon decay:
// the weighted mean of x3 = 2 E3 / sqrt_s is the muon's exact 0.6 (its density on flat phase space is
// proportional to x3^2 (1 - x3)) within the statistical error, and Phi_3 mean(w) its exact integral.
TEST(EventWeights, AWrongModelReweightedGivesTheExactExpectation) {
  const EventSet qqg = events_of(target(TargetKind::kQqg, 1e-2), 5000, 3);
  ModelSpec spec = flow_spec(FlowPriorChoice::kRambo);
  spec.flow().coupling(FlowCoupling::kFibre);
  const Model m = trained(spec, qqg, 150);
  const std::int64_t n = 40000;
  const DensityResult r = m.sample_with_density(n, SampleOptions().seed(11).batch(10000));
  EXPECT_EQ(r.nonpositive_events, 0);
  EXPECT_LE(r.worst_violation, 1e-13);
  const TargetSpec muon = target(TargetKind::kMuon);
  const at::Tensor w = target_density(muon, r.events) * at::exp(-r.log_ratio);
  ASSERT_TRUE(at::isfinite(w).all().item<bool>());
  const at::Tensor x3 = 2.0 * r.events.select(1, 2).select(1, 0);
  const double sum_w = w.sum().item<double>();
  const double mean_x3 = (w * x3).sum().item<double>() / sum_w;
  // The self-normalised estimator's standard error (delta method).
  const double se_x3 = std::sqrt((w.pow(2) * (x3 - mean_x3).pow(2)).sum().item<double>()) / sum_w;
  const double ess = sum_w * sum_w / w.pow(2).sum().item<double>();
  const double integral = phase_space_volume(3, 1.0) * w.mean().item<double>();
  const double se_integral = phase_space_volume(3, 1.0) * w.std().item<double>() / std::sqrt(static_cast<double>(n));
  const double unweighted = x3.mean().item<double>();
  std::cout << "qqg-trained flow reweighted to muon: <x3> = " << mean_x3 << " +- " << se_x3 << " (exact 0.6, unweighted "
            << unweighted << "), integral " << integral << " +- " << se_integral << " (exact " << target_integral(muon)
            << "), ESS / n = " << ess / n << '\n';
  EXPECT_NEAR(mean_x3, 0.6, 4 * se_x3);
  EXPECT_NEAR(integral, target_integral(muon), 4 * se_integral);
  EXPECT_LT(se_x3, 0.02);
  // Unweighted, the model is far from muon decay: the weights do the work.
  EXPECT_GT(std::abs(unweighted - 0.6), 10 * se_x3);
}

// The Dalitz-plane flow's ratio: reweighted to q qbar g it integrates to the exact value, to the
// uniform target to the flat fraction above its cut, and a latent-space flow reweighted to muon decay.
TEST(EventWeights, DalitzAndLatentFlowsIntegrateExactly) {
  const TargetSpec qqg = target(TargetKind::kQqg, 1e-3);
  const EventSet data = events_of(qqg, 5000, 4);
  const std::int64_t n = 20000;
  const double phi = phase_space_volume(3, 1.0);
  // Both laws of the plane's prior: N(0, I) and the logistic.
  for (FlowPrior law : {FlowPrior::kNormal, FlowPrior::kLogistic}) {
    ModelSpec spec = flow_spec(FlowPriorChoice::kDalitz);
    spec.cut(1e-3);
    spec.flow().prior_law(law);
    const Model m = trained(spec, data, 150);
    const DensityResult r = m.sample_with_density(n, SampleOptions().seed(12).batch(5000));
    EXPECT_EQ(r.nonpositive_events, 0);
    EXPECT_LE(r.worst_violation, 1e-13);
    // The uniform target is far from the model's q qbar g (ESS / n a few per cent): a wider error.
    auto check = [&](const TargetSpec& t, double exact, double precision, const std::string& what) {
      const at::Tensor w = target_density(t, r.events) * at::exp(-r.log_ratio);
      const double integral = phi * w.mean().item<double>();
      const double se = phi * w.std().item<double>() / std::sqrt(static_cast<double>(n));
      const double ess = std::pow(w.sum().item<double>(), 2) / w.pow(2).sum().item<double>();
      std::cout << what << ": integral " << integral << " +- " << se << " vs exact " << exact << ", ESS / n " << ess / n << '\n';
      EXPECT_NEAR(integral, exact, 4 * se) << what;
      EXPECT_LT(se, precision * exact) << what;
    };
    const std::string name = std::string(" (") + kPriorLawNames.name(law) + " prior)";
    check(qqg, target_integral(qqg), 0.01, "Dalitz flow -> qqg 1e-3" + name);
    check(target(TargetKind::kUniform), phi * std::pow(1.0 - 3e-3, 2), 0.06,
          "Dalitz flow -> uniform (the flat fraction above the cut)" + name);
  }
  const TargetSpec muon = target(TargetKind::kMuon);
  const Model latent = trained(flow_spec(FlowPriorChoice::kLatent), events_of(muon, 5000, 5), 150);
  const DensityResult l = latent.sample_with_density(n, SampleOptions().seed(13).batch(5000));
  EXPECT_EQ(l.nonpositive_events, 0);
  const at::Tensor w = target_density(muon, l.events) * at::exp(-l.log_ratio);
  const double se = phi * w.std().item<double>() / std::sqrt(static_cast<double>(n));
  EXPECT_NEAR(phi * w.mean().item<double>(), target_integral(muon), 4 * se);
}

// Weighted and unweighted events of a wrong model (a q-space flow trained on flat phase space) for
// muon decay: the written weights average to the integral; unweighted, the events follow the muon
// generator's (KS on x3), which the model's own events do not.
TEST(WeightedSample, WeightedAndUnweightedEventsFollowTheTarget) {
  const EventSet flat = events_of(target(TargetKind::kUniform), 5000, 8);
  ModelSpec spec = flow_spec(FlowPriorChoice::kRambo);
  spec.flow().coupling(FlowCoupling::kFibre);
  const Model m = trained(spec, flat, 150);
  const TargetSpec muon = target(TargetKind::kMuon);
  const TargetDensity density = [&](const at::Tensor& p) { return target_density(muon, p); };
  const double phi = phase_space_volume(3, 1.0), exact = target_integral(muon);
  const WeightedSample w = sample_weighted(m, 6000, density, phi, SampleOptions().seed(21).batch(2000));
  ASSERT_EQ(w.events.size(0), 6000);
  EXPECT_EQ(w.drawn, 6000);
  EXPECT_EQ(w.zero, 0);
  EXPECT_NEAR(w.weights.mean().item<double>(), w.summary.integral, 1e-12 * exact);
  EXPECT_NEAR(w.summary.integral, exact, 4 * w.summary.error);
  EXPECT_LE(w.worst_violation, 1e-14);
  std::int64_t last = -1;
  const WeightedSample u = sample_weighted(m, 6000, density, phi, SampleOptions().seed(22).batch(2000),
                                           WeightedSampleOptions().unweight(true).first_pass(3000),
                                           [&](std::int64_t kept) { EXPECT_GE(kept, last); last = kept; });
  EXPECT_EQ(last, 6000);
  ASSERT_EQ(u.events.size(0), 6000);
  EXPECT_EQ(u.first_pass, 3000);
  EXPECT_GT(u.trials, 6000);
  EXPECT_NEAR(u.acceptance, 6000.0 / static_cast<double>(u.trials), 1e-15);
  EXPECT_EQ(u.overweights, (u.weights > 1).sum().item<std::int64_t>());
  EXPECT_GE(u.weights.min().item<double>(), 1.0);
  EXPECT_NEAR(u.summary.integral, exact, 4 * u.summary.error);
  // The muon generator's x3 against the unweighted events (over-weights counted once: they are rare).
  at::Generator gen = make_generator(23);
  const at::Tensor truth = 2.0 * EventGenerator(muon).generate(20000, gen).select(1, 2).select(1, 0);
  const double p_unweighted = ks_test(2.0 * u.events.select(1, 2).select(1, 0), truth).p_value;
  const double p_model = ks_test(2.0 * m.sample(6000, SampleOptions().seed(24)).events.select(1, 2).select(1, 0), truth).p_value;
  std::cout << "unweighted to muon: KS p of x3 " << p_unweighted << " (the model's own events: " << p_model
            << "), acceptance " << u.acceptance << ", over-weights " << u.overweights << '\n';
  EXPECT_GT(p_unweighted, 1e-3);
  EXPECT_LT(p_model, 1e-6);
  // A q-space model reweighted to q qbar g: its events below the cut weigh 0, are dropped and counted,
  // and the written weights still average to the integral.
  const TargetSpec qqg = target(TargetKind::kQqg, 1e-2);
  const WeightedSample q = sample_weighted(m, 4000, [&](const at::Tensor& p) { return target_density(qqg, p); }, phi,
                                           SampleOptions().seed(25).batch(2000));
  EXPECT_GT(q.zero, 0);
  EXPECT_EQ(q.events.size(0), 4000);
  EXPECT_GT((2.0 * min_pair_dot(q.events)).min().item<double>(), 1e-2 * (1 - 1e-12));
  const double se = q.weights.std().item<double>() / std::sqrt(4000.0);
  EXPECT_NEAR(q.weights.mean().item<double>(), target_integral(qqg), 4 * std::max(se, q.summary.error));
  // Refused: a model without a density.
  ModelSpec langevin(ModelKind::kLangevin);
  langevin.network().hidden(16).layers(1).time_embedding(8);
  EXPECT_ERROR_CONTAINS(sample_weighted(Model(langevin, flat, 1), 10, density, phi), "kind = langevin");
}

TEST(TargetDensity, IntegralsMatchTheGeneratorsAndFlatPhaseSpace) {
  at::Generator gen = make_generator(21);
  const at::Tensor flat = sample_uniform_phase_space(400000, 3, 1.0, gen);
  const double phi = phase_space_volume(3, 1.0);
  for (double msq : {1e-2, 1e-4}) {
    TargetSpec qqg = target(TargetKind::kQqg, msq);
    EventGenerator generator(qqg);
    generator.generate(200000, gen);
    const double exact = target_integral(qqg);
    EXPECT_NEAR(generator.stats().integral(), exact, 4 * generator.stats().integral_error()) << msq;
    // F on flat phase space: the same integral, ordered or symmetrised.
    for (bool symmetrize : {false, true}) {
      qqg.symmetrize = symmetrize;
      const at::Tensor f = target_density(qqg, flat);
      const double se = phi * f.std().item<double>() / std::sqrt(4e5);
      EXPECT_NEAR(phi * f.mean().item<double>(), exact, 4 * se) << msq << (symmetrize ? " symmetrised" : "");
    }
  }
  // F is the generator's density: on the generator's own events it is 0 nowhere, below the cut 0.
  TargetSpec qqg = target(TargetKind::kQqg, 1e-2);
  EXPECT_GT(target_density(qqg, EventGenerator(qqg).generate(1000, gen)).min().item<double>(), 0.0);
  const at::Tensor y = 2.0 * min_pair_dot(flat);
  EXPECT_TRUE((target_density(qqg, flat).index({y < 1e-2}) == 0).all().item<bool>());
  EXPECT_NEAR(target_integral(target(TargetKind::kUniform)), phi, 1e-15);
  EXPECT_ERROR_CONTAINS(target_density(target(TargetKind::kAps), flat), "no closed-form density");
  EXPECT_ERROR_CONTAINS(target_density(target(TargetKind::kMuon), flat.narrow(1, 0, 2)), "expected events [n, 3, 4]");
}

TEST(EventWeights, ModelsWithoutADensityAreRefusedWithTheReason) {
  const EventSet muon = events_of(target(TargetKind::kMuon), 2000, 6);
  auto refusal = [&](ModelSpec spec) {
    const Model m(spec, muon, 1);
    EXPECT_ERROR_CONTAINS(m.sample_with_density(10), m.density_refusal());
    return m.density_refusal();
  };
  ModelSpec langevin(ModelKind::kLangevin);
  langevin.network().hidden(16).layers(1).time_embedding(8);
  EXPECT_NE(refusal(langevin).find("kind = langevin"), std::string::npos);
  ModelSpec vp(ModelKind::kVp);
  vp.network().hidden(16).layers(1).time_embedding(8);
  EXPECT_NE(refusal(vp).find("kind = vp"), std::string::npos);
  ModelSpec pflow(ModelKind::kPFlow);
  pflow.network().hidden(16).layers(1).time_embedding(8);
  EXPECT_NE(refusal(pflow).find("not on phase space"), std::string::npos);
  ModelSpec fixed = flow_spec(FlowPriorChoice::kRambo);
  fixed.lift(LiftOptions::fixed(0.15));
  EXPECT_NE(refusal(fixed).find("lift = fixed"), std::string::npos);
  TargetSpec aps = target(TargetKind::kAps);
  aps.particles = 5;
  const EventSet chain_data = events_of(aps, 2000, 7);
  const Model chain(flow_spec(FlowPriorChoice::kChain), chain_data, 1);
  EXPECT_NE(chain.density_refusal().find("prior = chain"), std::string::npos);
  EXPECT_ERROR_CONTAINS(chain.sample_with_density(10), "prior = chain");
  EXPECT_EQ(trained(flow_spec(FlowPriorChoice::kRambo), muon, 0).density_refusal(), "");
}

}  // namespace
}  // namespace phasegen
