#include "phasegen/models/families.hpp"

#include <unistd.h>

#include <torch/cuda.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "phasegen/core/random.hpp"
#include "phasegen/eval/stats.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/models/model.hpp"
#include "phasegen/models/spec.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/physics/targets.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

namespace fs = std::filesystem;

QNetwork random_network(std::int64_t particles, std::int64_t extra_inputs = 0) {
  QNetwork net = make_network(NetworkOptions().particles(particles).hidden(16).layers(2).extra_inputs(extra_inputs), 3);
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

// A flow family with the paper's Gaussian prior fitted to `events` lifted into `space`.
FlowFamily fitted_gaussian_flow(const at::Tensor& events, OdeSolver solver, std::int64_t nfe, const StateSpace& space,
                                std::uint64_t seed) {
  at::Generator gen = make_generator(seed);
  GaussianPrior prior = FlowFamily::fit_gaussian(events, space, gen);
  return FlowFamily(FlowMatching(FlowPrior::kGaussian, solver, nfe, std::move(prior)), space);
}

// Every model family with every prior, space and sampler, built on APS events at 91.2 GeV.
std::vector<std::unique_ptr<ModelFamily>> all_families(const at::Tensor& events) {
  const double rs = 91.2;
  const StateSpace q = StateSpace::q_space(LiftOptions::random(), rs);
  const StateSpace z = StateSpace::latent(LiftOptions::random(), rs);
  const StateSpace p = StateSpace::momentum(StateSpace::momentum_scale(events), rs);
  std::vector<std::unique_ptr<ModelFamily>> families;
  const DiffusionOptions langevin = DiffusionOptions().schedule(LangevinSchedule::kPaper);
  families.push_back(std::make_unique<LangevinFamily>(langevin, LiftOptions::random(), rs));
  for (const auto& [sampler, nfe] : std::vector<std::pair<LangevinSampler, std::int64_t>>{
           {LangevinSampler::kEulerMaruyama, 25}, {LangevinSampler::kHeun, 9}}) {
    DiffusionOptions fast = langevin;
    fast.sampler(sampler).nfe(nfe);
    families.push_back(std::make_unique<LangevinFamily>(fast, LiftOptions::random(), rs));
  }
  for (OdeSolver solver : {OdeSolver::kEuler, OdeSolver::kHeun, OdeSolver::kRk4}) {
    families.push_back(std::make_unique<FlowFamily>(FlowMatching(FlowPrior::kRambo, solver, 12), q));
    families.push_back(std::make_unique<FlowFamily>(fitted_gaussian_flow(events, solver, 12, q, 1)));
    families.push_back(std::make_unique<FlowFamily>(FlowMatching(FlowPrior::kNormal, solver, 12), z));
  }
  families.push_back(std::make_unique<FlowFamily>(FlowMatching(FlowPrior::kRambo, OdeSolver::kHeun, 12), q,
                                                  StateFeatures::kEvent, FlowCoupling::kFibre));
  families.push_back(std::make_unique<FlowFamily>(FlowMatching(FlowPrior::kNormal, OdeSolver::kHeun, 12), z,
                                                  StateFeatures::kNone, FlowCoupling::kFibre));
  families.push_back(std::make_unique<FlowFamily>(FlowMatching(FlowPrior::kRambo, OdeSolver::kHeun, 12), q,
                                                  StateFeatures::kInvariants, FlowCoupling::kFibre));
  families.push_back(std::make_unique<FlowFamily>(FlowMatching(FlowPrior::kNormal, OdeSolver::kHeun, 12), z,
                                                  StateFeatures::kInvariants, FlowCoupling::kFibre));
  families.push_back(std::make_unique<FlowFamily>(FlowMatching(FlowPrior::kRambo, OdeSolver::kHeun, 12), q,
                                                  StateFeatures::kNone, FlowCoupling::kOt));
  for (FlowTimeLaw law : {FlowTimeLaw::kData, FlowTimeLaw::kNoise}) {
    FlowMatching weighted(FlowPrior::kRambo, OdeSolver::kRk4, 12);
    weighted.set_time_law(law);
    families.push_back(std::make_unique<FlowFamily>(weighted, q));
  }
  for (VpSampler sampler : {VpSampler::kDdpm, VpSampler::kDdim, VpSampler::kHeun, VpSampler::kDpmSolver2M}) {
    families.push_back(std::make_unique<VpFamily>(VpOptions().sampler(sampler).nfe(12), z));
  }
  families.push_back(std::make_unique<VpFamily>(VpOptions().nfe(6), z, StateFeatures::kEvent));
  const VpOptions ddpm =
      VpOptions().schedule(VpScheduleKind::kPaper).sampler(VpSampler::kDdpm).nfe(500).grid(VpGrid::kTime);
  families.push_back(std::make_unique<VpFamily>(ddpm, p));
  families.push_back(std::make_unique<FlowFamily>(FlowMatching(FlowPrior::kNormal, OdeSolver::kEuler, 50), p));
  return families;
}

// The network inputs per particle beside the state a family's features add, for N = 5.
std::int64_t extra_of(const ModelFamily& family) {
  const auto* flow = dynamic_cast<const FlowFamily*>(&family);
  const auto* vp = dynamic_cast<const VpFamily*>(&family);
  return extra_inputs(flow ? flow->features() : vp ? vp->features() : StateFeatures::kNone, 5);
}

EventSet uniform_events(std::int64_t n, std::uint64_t seed) {
  at::Generator gen = make_generator(seed);
  EventSet data;
  data.momenta = sample_uniform_phase_space(n, 3, 91.2, gen);
  data.sqrt_s = 91.2;
  data.pdg_ids = {11, -11, 22};
  return data;
}

ModelSpec small_spec(ModelKind kind) {
  ModelSpec spec(kind);
  spec.network().hidden(16).layers(2).time_embedding(8);
  return spec;
}

// Untrained output layers are zero; random weights make the network matter to the samples.
void randomise(Model& model, std::uint64_t seed) {
  at::NoGradGuard no_grad;
  at::Generator init = make_generator(seed);
  for (auto& p : model.network()->parameters()) p.copy_(at::randn(p.sizes(), init, p.options()) * 0.3);
}

TEST(Models, WithSpecChangesTheSamplerAndSharesTheWeights) {
  const EventSet data = uniform_events(400, 7);
  const Model model(small_spec(ModelKind::kVp), data);
  EXPECT_EQ(model.evaluations(), 20);  // dpmpp2m, 20 NFE
  ModelSpec fast_spec = model.spec();
  fast_spec.vp().sampler(VpSampler::kHeun).nfe(9);
  const Model fast = model.with_spec(fast_spec);
  EXPECT_EQ(fast.evaluations(), 9);
  EXPECT_EQ(fast.sampler_description(), "heun, 9 NFE, logsnr grid");
  EXPECT_TRUE(fast.spec() == fast_spec);
  EXPECT_EQ(model.evaluations(), 20);
  EXPECT_EQ(fast.network().ptr(), model.network().ptr());
  EXPECT_EQ(fast.particles(), 3);
  EXPECT_EQ(fast.sqrt_s(), 91.2);
  EXPECT_EQ(fast.pdg_ids(), data.pdg_ids);
  EXPECT_ERROR_CONTAINS(model.with_spec(small_spec(ModelKind::kFlow)), "expected a spec of kind vp");
  ModelSpec other_network = model.spec();
  other_network.network().kind(NetworkKind::kTransformer);
  EXPECT_ERROR_CONTAINS(model.with_spec(other_network), "another network");
  ModelSpec with_event = model.spec();
  with_event.features(StateFeatures::kEvent);
  EXPECT_ERROR_CONTAINS(model.with_spec(with_event), "another network");
}

// The round trip of checkpoints: a model of every kind saved and loaded is the same model.
TEST(Models, CheckpointsOfEveryKindLoadTheSameModel) {
  const fs::path dir = fs::temp_directory_path() / ("phasegen-models-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const EventSet data = uniform_events(400, 8);
  std::vector<std::pair<std::string, ModelSpec>> specs;
  specs.emplace_back("langevin", small_spec(ModelKind::kLangevin));
  for (const auto& [name, prior] : std::vector<std::pair<std::string, FlowPriorChoice>>{
           {"flow-rambo", FlowPriorChoice::kRambo},
           {"flow-gaussian", FlowPriorChoice::kGaussian},
           {"flow-latent", FlowPriorChoice::kLatent}}) {
    ModelSpec spec = small_spec(ModelKind::kFlow);
    spec.flow().prior(prior).nfe(8);
    specs.emplace_back(name, spec);
  }
  specs.emplace_back("vp", small_spec(ModelKind::kVp));
  specs.emplace_back("pflow", small_spec(ModelKind::kPFlow));
  specs.emplace_back("pddpm", small_spec(ModelKind::kPDdpm));
  std::uint64_t seed = 10;
  for (const auto& [name, spec] : specs) {
    SCOPED_TRACE(name);
    Model model(spec, data, seed);
    randomise(model, seed++);
    EXPECT_EQ(model.conserving(), spec.conserving());
    EXPECT_EQ(model.fitted().gaussian.has_value(), name == "flow-gaussian");
    EXPECT_EQ(model.fitted().momentum_scale.has_value(), !spec.conserving());
    const std::string path = (dir / (name + ".ckpt")).string();
    model.save(path);
    const Model loaded = Model::load(path);
    EXPECT_TRUE(loaded.spec() == model.spec());
    EXPECT_TRUE(loaded.spec() == spec);
    EXPECT_EQ(loaded.particles(), 3);
    EXPECT_EQ(loaded.sqrt_s(), 91.2);
    EXPECT_EQ(loaded.pdg_ids(), data.pdg_ids);
    EXPECT_EQ(loaded.conserving(), model.conserving());
    EXPECT_EQ(loaded.evaluations(), model.evaluations());
    EXPECT_EQ(loaded.description(), model.description());
    ASSERT_TRUE(loaded.origin().has_value());
    EXPECT_EQ(loaded.origin()->path, path);
    EXPECT_NE(loaded.network().ptr(), model.network().ptr());
    const auto saved_weights = model.network()->parameters(), loaded_weights = loaded.network()->parameters();
    ASSERT_EQ(saved_weights.size(), loaded_weights.size());
    for (std::size_t k = 0; k < saved_weights.size(); ++k) EXPECT_TRUE(at::equal(saved_weights[k], loaded_weights[k]));
    const SampleOptions options = SampleOptions().seed(5);
    const SampleResult a = model.sample(50, options), b = loaded.sample(50, options);
    ASSERT_EQ(a.events.sizes(), (at::IntArrayRef{50, 3, 4}));
    EXPECT_TRUE(at::equal(a.events, b.events));
    EXPECT_FALSE(at::equal(a.events, loaded.sample(50, SampleOptions().seed(6)).events));
    if (spec.conserving()) {
      EXPECT_LE(table_one_violation(a.events, 91.2).max().item<double>(), 1e-12);
    }
    // The same weights and fitted state give the same loss for the same draws.
    at::Generator ga = make_generator(6), gb = make_generator(6);
    const at::Tensor batch = data.momenta.narrow(0, 0, 32);
    EXPECT_TRUE(at::equal(model.loss(batch, ga).detach(), loaded.loss(batch, gb).detach()));
  }
  EXPECT_THROW(Model::load((dir / "missing.ckpt").string()), Error);
  fs::remove_all(dir);
}

// Every family has a finite training loss with a gradient for every weight.
TEST(Models, EveryFamilyHasAFiniteLossWithAGradient) {
  at::Generator gen = make_generator(9);
  const at::Tensor events = aps_events(2000, gen);
  std::map<std::int64_t, QNetwork> nets{{0, random_network(5)}, {4, random_network(5, 4)}, {5, random_network(5, 5)}};
  for (const auto& family : all_families(events)) {
    QNetwork& used = nets.at(extra_of(*family));
    used->zero_grad();
    const at::Tensor loss = family->loss(*used, events.narrow(0, 0, 300), gen);
    ASSERT_EQ(loss.dim(), 0) << family->description();
    EXPECT_TRUE(std::isfinite(loss.item<double>())) << family->description();
    loss.backward();
    double norm = 0;
    for (const auto& p : used->parameters()) {
      ASSERT_TRUE(p.grad().defined()) << family->description();
      EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>()) << family->description();
      norm += p.grad().pow(2).sum().item<double>();
    }
    EXPECT_GT(norm, 0) << family->description();
    const auto* flow = dynamic_cast<const FlowFamily*>(family.get());
    EXPECT_EQ(family->loss_group(), flow && flow->coupling() == FlowCoupling::kOt ? kOtGroup : 1);
  }
}

// Conservation at every step of every q- and z-space sampler; the p-space baselines break it,
// and the paper's Table I metric says so.
TEST(Models, EveryStateIsExactExceptForThePSpaceBaselines) {
  at::Generator gen = make_generator(2);
  const at::Tensor events = aps_events(4000, gen);
  std::map<std::int64_t, QNetwork> nets{{0, random_network(5)}, {4, random_network(5, 4)}, {5, random_network(5, 5)}};
  for (const auto& family : all_families(events)) {
    std::int64_t states = 0;
    double worst = 0, worst_mass = 0, best = 1e300;
    QNetworkImpl& used = *nets.at(extra_of(*family));
    const at::Tensor out = family->sample(used, 200, 5, gen, 1, [&](std::int64_t, const at::Tensor& p) {
      const at::Tensor v = conservation_violation(p, 91.2);
      worst = std::max(worst, v.max().item<double>());
      best = std::min(best, v.min().item<double>());
      worst_mass = std::max(worst_mass, mass_violation(p, 91.2).max().item<double>());
      ++states;
    });
    const auto* langevin = dynamic_cast<const LangevinFamily*>(family.get());
    const std::int64_t expected_states =
        langevin ? langevin->diffusion().sampler_steps() + 1 : family->last_step() + 1;
    EXPECT_EQ(states, expected_states) << family->description();
    EXPECT_EQ(out.sizes(), (at::IntArrayRef{200, 5, 4})) << family->description();
    EXPECT_EQ(out.scalar_type(), at::kDouble) << family->description();
    EXPECT_LE(worst_mass, 1e-12) << family->description();
    const at::Tensor table_one = table_one_violation(out, 91.2);
    if (family->conserving()) {
      EXPECT_LE(worst, 1e-12) << family->description();
      EXPECT_LE(table_one.max().item<double>(), 1e-12) << family->description();
    } else {
      EXPECT_GT(best, 1e-6) << family->description();
      EXPECT_GT(table_one.min().item<double>(), 1e-3) << family->description();
    }
  }
}

// On a GPU (skipped without one): one training loss per family and every sampled state exact.
TEST(Models, OnAGpuEveryFamilyTrainsAndEveryStateIsExact) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU";
  const at::Device cuda(at::kCUDA, 0);
  at::Generator cpu_gen = make_generator(2);
  const at::Tensor events = aps_events(1000, cpu_gen).to(cuda);
  std::map<std::int64_t, QNetwork> nets{{0, random_network(5)}, {4, random_network(5, 4)}, {5, random_network(5, 5)}};
  for (auto& [extra, net] : nets) net->to(cuda);
  at::Generator gen = make_generator(3, cuda);
  for (const auto& family : all_families(events.cpu())) {
    QNetworkImpl& used = *nets.at(extra_of(*family));
    const at::Tensor loss = family->loss(used, events.narrow(0, 0, 256), gen);
    EXPECT_TRUE(loss.is_cuda()) << family->description();
    EXPECT_TRUE(std::isfinite(loss.item<double>())) << family->description();
    double worst = 0;
    const at::Tensor out = family->sample(used, 200, 5, gen, 1, [&](std::int64_t, const at::Tensor& p) {
      EXPECT_TRUE(p.is_cuda());
      worst = std::max(worst, conservation_violation(p, 91.2).max().item<double>());
    });
    EXPECT_TRUE(out.is_cuda()) << family->description();
    if (family->conserving()) {
      EXPECT_LE(worst, 1e-12) << family->description();
    }
  }
}

// The fibre coupling lifts each event onto its prior draw's fibre point; the lifted events keep
// the exact law p_ref R(phi(q)) (here R = 1: flat events lift to p_ref).
TEST(Models, FibreCouplingSharesTheFibreAndKeepsTheMarginals) {
  at::Generator gen = make_generator(5);
  const at::Tensor events = sample_uniform_phase_space(20000, 4, 91.2, gen);
  FlowFamily family(FlowMatching(FlowPrior::kRambo, OdeSolver::kEuler, 4),
                    StateSpace::q_space(LiftOptions::random(), 91.2), StateFeatures::kNone, FlowCoupling::kFibre);
  auto [x0, x1] = family.training_pairs(events, gen);
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
  EXPECT_ERROR_CONTAINS(FlowFamily(FlowMatching(FlowPrior::kNormal, OdeSolver::kEuler, 4),
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
    FlowFamily family(FlowMatching(FlowPrior::kRambo, OdeSolver::kEuler, 4),
                      StateSpace::q_space(LiftOptions::random(), 91.2), StateFeatures::kNone, coupling);
    return family.training_pairs(events, gen);
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
  EXPECT_ERROR_CONTAINS(FlowFamily(FlowMatching(FlowPrior::kRambo, OdeSolver::kEuler, 4),
                                   StateSpace::q_space(LiftOptions::fixed(0.15), 1.0), StateFeatures::kNone,
                                   FlowCoupling::kOt),
                        "expected the RAMBO prior");
}

TEST(Models, TrajectoryLabelsAndSampledEventsMatchTheFinalState) {
  auto net = random_network(3);
  VpFamily vp(VpOptions().sampler(VpSampler::kDdim).nfe(10), StateSpace::latent(LiftOptions::random(), 1.0));
  std::vector<std::int64_t> labels;
  at::Tensor last;
  at::Generator gen = make_generator(3);
  at::Tensor p = vp.sample(*net, 50, 3, gen, 4, [&](std::int64_t step, const at::Tensor& e) {
    labels.push_back(step);
    last = e;
  });
  EXPECT_EQ(labels, (std::vector<std::int64_t>{0, 4, 8, 10}));
  EXPECT_TRUE(at::equal(last, p));
}

}  // namespace
}  // namespace phasegen
