#include "phasegen/models.hpp"

#include <torch/cuda.h>

#include <cmath>
#include <sstream>

#include "phasegen/observables.hpp"
#include "phasegen/stats.hpp"
#include "phasegen/targets.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

std::shared_ptr<QNetworkImpl> random_network(std::int64_t particles, std::int64_t extra_inputs = 0) {
  auto net = make_network(NetworkOptions().particles(particles).hidden(16).layers(2).extra_inputs(extra_inputs), 3);
  at::NoGradGuard no_grad;
  at::Generator init = make_generator(4);
  for (auto& p : net->parameters()) p.copy_(at::randn(p.sizes(), init, p.options()) * 0.3);
  return net;
}

at::Tensor aps_events(std::int64_t n, at::Generator& gen) {
  TargetSpec aps;
  aps.kind = TargetKind::kAps;
  aps.particles = 5;
  aps.sqrt_s = 91.2;
  return EventGenerator(aps).generate(n, gen);
}

// Every model family with every prior, space and sampler, built on APS events at 91.2 GeV.
std::vector<std::unique_ptr<Model>> all_models(const at::Tensor& events) {
  const double rs = 91.2;
  const StateSpace q = StateSpace::q_space(LiftOptions::random(), rs);
  const StateSpace z = StateSpace::latent(LiftOptions::random(), rs);
  const StateSpace p = StateSpace::momentum(StateSpace::momentum_scale(events), rs);
  std::vector<std::unique_ptr<Model>> models;
  DiffusionOptions langevin;
  langevin.schedule = "paper";
  models.push_back(std::make_unique<LangevinModel>(langevin, LiftOptions::random(), rs));
  for (const auto& [sampler, nfe] : std::vector<std::pair<const char*, std::int64_t>>{{"em", 25}, {"heun", 9}}) {
    DiffusionOptions fast = langevin;
    fast.sampler = sampler;
    fast.nfe = nfe;
    models.push_back(std::make_unique<LangevinModel>(fast, LiftOptions::random(), rs));
  }
  for (OdeSolver solver : {OdeSolver::kEuler, OdeSolver::kHeun, OdeSolver::kRk4}) {
    models.push_back(std::make_unique<FlowModel>(FlowMatching(FlowPrior::kRambo, solver, 12), q));
    models.push_back(std::make_unique<FlowModel>(FlowModel::with_fitted_gaussian(events, solver, 12, q, 1)));
    models.push_back(std::make_unique<FlowModel>(FlowMatching(FlowPrior::kNormal, solver, 12), z));
  }
  models.push_back(std::make_unique<FlowModel>(FlowMatching(FlowPrior::kRambo, OdeSolver::kHeun, 12), q,
                                               StateFeatures::kEvent, FlowCoupling::kFibre));
  models.push_back(std::make_unique<FlowModel>(FlowMatching(FlowPrior::kNormal, OdeSolver::kHeun, 12), z,
                                               StateFeatures::kNone, FlowCoupling::kFibre));
  for (const char* law : {"data", "noise"}) {
    FlowMatching weighted(FlowPrior::kRambo, OdeSolver::kRk4, 12);
    weighted.set_time_law(law);
    models.push_back(std::make_unique<FlowModel>(weighted, q));
  }
  for (const char* sampler : {"ddpm", "ddim", "heun", "dpmpp2m"}) {
    VpOptions o;
    o.sampler = sampler;
    o.nfe = 12;
    models.push_back(std::make_unique<VpModel>(o, z));
  }
  VpOptions with_event;
  with_event.nfe = 6;
  models.push_back(std::make_unique<VpModel>(with_event, z, StateFeatures::kEvent));
  VpOptions ddpm;
  ddpm.schedule = "paper";
  ddpm.sampler = "ddpm";
  ddpm.nfe = 500;
  ddpm.grid = "time";
  models.push_back(std::make_unique<VpModel>(ddpm, p));
  models.push_back(std::make_unique<FlowModel>(FlowMatching(FlowPrior::kNormal, OdeSolver::kEuler, 50), p));
  return models;
}

TEST(Models, SettingsRoundTripThroughTheCheckpointText) {
  at::Generator gen = make_generator(1);
  for (const auto& model : all_models(aps_events(2000, gen))) {
    auto back = model_from_settings(model->kind(), model->settings_text());
    EXPECT_EQ(back->settings_text(), model->settings_text());
    EXPECT_EQ(back->description(), model->description());
    EXPECT_EQ(back->conserving(), model->conserving());
  }
}

TEST(Models, SamplerOverridesReplaceSettingsAndUnknownOnesAreRefused) {
  VpOptions o;
  VpModel vp(o, StateSpace::latent(LiftOptions::random(), 1.0));
  auto fast = model_from_settings("vp", vp.settings_text(), {{"sampler", "heun"}, {"nfe", "9"}});
  EXPECT_EQ(fast->evaluations(), 9);
  EXPECT_EQ(fast->last_step(), 5);
  EXPECT_ERROR_CONTAINS(model_from_settings("vp", vp.settings_text(), {{"solver", "rk4"}}),
                        "solver: not a setting of this model");
  EXPECT_ERROR_CONTAINS(model_from_settings("vp", vp.settings_text(), {{"sampler", "euler"}}), "unknown sampler");
  EXPECT_ERROR_CONTAINS(model_from_settings("gan", vp.settings_text()), "unknown model kind 'gan'");

  // A Langevin checkpoint from before the fast samplers: the paper's sampler, and overridable.
  std::istringstream current(LangevinModel(DiffusionOptions{}, LiftOptions::random(), 1.0).settings_text());
  std::string old, line;
  while (std::getline(current, line)) {
    if (line.rfind("sampler", 0) != 0 && line.rfind("nfe", 0) != 0) old += line + "\n";
  }
  ASSERT_FALSE(has_key_value(old, "sampler"));
  EXPECT_EQ(model_from_settings("langevin", old)->evaluations(), 500);
  auto heun = model_from_settings("langevin", old, {{"sampler", "heun"}, {"nfe", "19"}});
  EXPECT_EQ(heun->evaluations(), 19);
  EXPECT_EQ(heun->sampler_description(), "probability-flow ODE, heun, 19 NFE");
  EXPECT_ERROR_CONTAINS(FlowMatching(FlowPrior::kRambo, OdeSolver::kEuler, 4).set_time_law("late"),
                        "time_law: expected uniform, data or noise, but got 'late'");
}

// Conservation at every step of every q- and z-space sampler; the p-space baselines break it,
// and the paper's Table I metric says so.
TEST(Models, EveryStateIsExactExceptForThePSpaceBaselines) {
  at::Generator gen = make_generator(2);
  const at::Tensor events = aps_events(4000, gen);
  auto net = random_network(5);
  auto net_with_event = random_network(5, 4);
  for (const auto& model : all_models(events)) {
    std::int64_t states = 0;
    double worst = 0, worst_mass = 0, best = 1e300;
    const auto* flow = dynamic_cast<const FlowModel*>(model.get());
    const auto* vp = dynamic_cast<const VpModel*>(model.get());
    const bool event = (flow && flow->features() == StateFeatures::kEvent) || (vp && vp->features() == StateFeatures::kEvent);
    const at::Tensor out =
        model->sample_events(event ? *net_with_event : *net, 200, 5, gen, 1, [&](std::int64_t, const at::Tensor& p) {
          const at::Tensor v = conservation_violation(p, 91.2);
          worst = std::max(worst, v.max().item<double>());
          best = std::min(best, v.min().item<double>());
          worst_mass = std::max(worst_mass, mass_violation(p, 91.2).max().item<double>());
          ++states;
        });
    const auto* langevin = dynamic_cast<const LangevinModel*>(model.get());
    const std::int64_t expected_states =
        langevin ? langevin->diffusion().sampler_steps() + 1 : model->last_step() + 1;
    EXPECT_EQ(states, expected_states) << model->description();
    EXPECT_LE(worst_mass, 1e-12) << model->description();
    const at::Tensor table_one = table_one_violation(out, 91.2);
    if (model->conserving()) {
      EXPECT_LE(worst, 1e-12) << model->description();
      EXPECT_LE(table_one.max().item<double>(), 1e-12) << model->description();
    } else {
      EXPECT_GT(best, 1e-6) << model->description();
      EXPECT_GT(table_one.min().item<double>(), 1e-3) << model->description();
    }
  }
}

// On a GPU (skipped without one): one training loss per family and every sampled state exact.
TEST(Models, OnAGpuEveryFamilyTrainsAndEveryStateIsExact) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU";
  const at::Device cuda(at::kCUDA, 0);
  at::Generator cpu_gen = make_generator(2);
  const at::Tensor events = aps_events(1000, cpu_gen).to(cuda);
  auto net = random_network(5);
  auto net_with_event = random_network(5, 4);
  net->to(cuda);
  net_with_event->to(cuda);
  at::Generator gen = make_generator(3, cuda);
  for (const auto& model : all_models(events.cpu())) {
    const auto* flow = dynamic_cast<const FlowModel*>(model.get());
    const auto* vp = dynamic_cast<const VpModel*>(model.get());
    const bool event = (flow && flow->features() == StateFeatures::kEvent) || (vp && vp->features() == StateFeatures::kEvent);
    QNetworkImpl& used = event ? *net_with_event : *net;
    const at::Tensor loss = model->loss_function()(used, events.narrow(0, 0, 256), gen);
    EXPECT_TRUE(loss.is_cuda()) << model->description();
    EXPECT_TRUE(std::isfinite(loss.item<double>())) << model->description();
    double worst = 0;
    const at::Tensor out = model->sample_events(used, 200, 5, gen, 1, [&](std::int64_t, const at::Tensor& p) {
      EXPECT_TRUE(p.is_cuda());
      worst = std::max(worst, conservation_violation(p, 91.2).max().item<double>());
    });
    EXPECT_TRUE(out.is_cuda()) << model->description();
    if (model->conserving()) {
      EXPECT_LE(worst, 1e-12) << model->description();
    }
  }
}

// The fibre coupling lifts each event onto its prior draw's fibre point; the lifted events keep
// the exact law p_ref R(phi(q)) (here R = 1: flat events lift to p_ref).
TEST(Models, FibreCouplingSharesTheFibreAndKeepsTheMarginals) {
  at::Generator gen = make_generator(5);
  const at::Tensor events = sample_uniform_phase_space(20000, 4, 91.2, gen);
  FlowModel model(FlowMatching(FlowPrior::kRambo, OdeSolver::kEuler, 4), StateSpace::q_space(LiftOptions::random(), 91.2),
                  StateFeatures::kNone, FlowCoupling::kFibre);
  auto [x0, x1] = model.training_pairs(events, gen);
  const FibrePoint f0 = fibre_point(x0.to(at::kDouble), 91.2), f1 = fibre_point(x1.to(at::kDouble), 91.2);
  EXPECT_LE(test::max_abs(f0.boost - f1.boost) / (1.0 + f1.boost.abs().max().item<double>()), 1e-4);
  EXPECT_LE(test::max_abs(f0.scale / f1.scale - 1.0), 1e-4);
  EXPECT_LE(test::max_abs(rambo_map(x0.to(at::kDouble), 91.2) - events) / 91.2, 1e-5);
  // |q| ~ Gamma(2, 1) for every particle of the lifted flat events, as for the prior draws.
  for (const at::Tensor& x : {x0, x1}) {
    auto ks = ks_test(at::linalg_vector_norm(x.to(at::kDouble), 2, {2}, false, c10::nullopt).flatten(),
                      [](const at::Tensor& r) { return gamma_cdf(r, 2.0); });
    EXPECT_GT(ks.p_value, 1e-3);
  }
  // The two halves of a pair are not independent: they share (b, x).
  EXPECT_GT(at::corrcoef(at::stack({x0.sum(1).select(1, 2), x1.sum(1).select(1, 2)}).to(at::kDouble))[0][1].item<double>(), 0.5);
  EXPECT_ERROR_CONTAINS(FlowModel(FlowMatching(FlowPrior::kNormal, OdeSolver::kEuler, 4),
                                  StateSpace::q_space(LiftOptions::random(), 1.0), StateFeatures::kNone,
                                  FlowCoupling::kFibre),
                        "coupling = fibre: expected the RAMBO prior");
}

// The OT coupling permutes the data within groups so that paired events are close, then shares the
// fibre as the fibre coupling does: the data multiset and the prior draws are unchanged.
TEST(Models, OtCouplingPermutesTheDataTowardsClosePairs) {
  at::Generator gen = make_generator(6);
  const at::Tensor events = aps_events(600, gen);  // groups of 256, 256 and 88
  auto pairs = [&](FlowCoupling coupling) {
    FlowModel model(FlowMatching(FlowPrior::kRambo, OdeSolver::kEuler, 4),
                    StateSpace::q_space(LiftOptions::random(), 91.2), StateFeatures::kNone, coupling);
    return model.training_pairs(events, gen);
  };
  auto [x0, x1] = pairs(FlowCoupling::kOt);
  const at::Tensor p0 = rambo_map(x0.to(at::kDouble), 91.2), p1 = rambo_map(x1.to(at::kDouble), 91.2);
  const FibrePoint f0 = fibre_point(x0.to(at::kDouble), 91.2), f1 = fibre_point(x1.to(at::kDouble), 91.2);
  EXPECT_LE(test::max_abs(f0.scale / f1.scale - 1.0), 1e-4);
  // The same events, each once: sorted by the first energy they agree row by row.
  auto by_energy = [](const at::Tensor& p) { return p.index_select(0, at::argsort(p.select(2, 0).select(1, 0))); };
  EXPECT_LE(test::max_abs(by_energy(p0) - by_energy(events)) / 91.2, 1e-5);
  // Pairs are much closer than under the fibre coupling.
  auto mean_distance = [](const at::Tensor& a, const at::Tensor& b) { return (a - b).pow(2).sum({1, 2}).mean().item<double>(); };
  auto [y0, y1] = pairs(FlowCoupling::kFibre);
  const double ot = mean_distance(p0, p1);
  const double fibre = mean_distance(rambo_map(y0.to(at::kDouble), 91.2), rambo_map(y1.to(at::kDouble), 91.2));
  EXPECT_LT(ot, 0.7 * fibre) << "ot " << ot << ", fibre " << fibre;
  EXPECT_ERROR_CONTAINS(FlowModel(FlowMatching(FlowPrior::kRambo, OdeSolver::kEuler, 4),
                                  StateSpace::q_space(LiftOptions::fixed(0.15), 1.0), StateFeatures::kNone,
                                  FlowCoupling::kOt),
                        "expected the RAMBO prior");
}

TEST(Models, TrajectoryLabelsAndSampledEventsMatchTheFinalState) {
  auto net = random_network(3);
  VpOptions o;
  o.sampler = "ddim";
  o.nfe = 10;
  VpModel vp(o, StateSpace::latent(LiftOptions::random(), 1.0));
  std::vector<std::int64_t> labels;
  at::Tensor last;
  at::Generator gen = make_generator(3);
  at::Tensor p = vp.sample_events(*net, 50, 3, gen, 4, [&](std::int64_t step, const at::Tensor& e) {
    labels.push_back(step);
    last = e;
  });
  EXPECT_EQ(labels, (std::vector<std::int64_t>{0, 4, 8, 10}));
  EXPECT_TRUE(at::equal(last, p));
}

}  // namespace
}  // namespace phasegen
