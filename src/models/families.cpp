#include "phasegen/models/families.hpp"

#include <cmath>
#include <optional>
#include <sstream>
#include <vector>

#include "phasegen/models/assignment.hpp"
#include "phasegen/core/error.hpp"

namespace phasegen {

namespace {

// Decodes (with `decode`) the states a sampler reports for every `every`-th step from the first, and the last.
std::function<void(std::int64_t, const at::Tensor&)> every_state(std::int64_t every, std::int64_t last,
                                                                 const ModelFamily::EventCallback& on_events,
                                                                 std::function<at::Tensor(const at::Tensor&)> decode) {
  if (every <= 0 || !on_events) return {};
  return [=](std::int64_t step, const at::Tensor& x) {
    if (step % every == 0 || step == last) on_events(step, decode(x));
  };
}

std::function<void(std::int64_t, const at::Tensor&)> every_state(std::int64_t every, std::int64_t last,
                                                                 const ModelFamily::EventCallback& on_events,
                                                                 const StateSpace& space) {
  return every_state(every, last, on_events, [&space](const at::Tensor& x) { return space.decode(x); });
}

// The network's view of the event a state decodes to; captures the space by value, so that the
// function outlives any copy of the model.
InputFeatures event_features(const StateSpace& space, StateFeatures features) {
  if (features == StateFeatures::kNone) return {};
  PHASEGEN_CHECK(space.conserving(), "features = ", kStateFeaturesNames.name(features),
                 ": expected a q- or z-space model, but got ", space.description());
  if (features == StateFeatures::kInvariants) {
    return [space](const at::Tensor& x) {
      return log_invariant_features(space.to_q(x.to(at::kDouble))).to(x.scalar_type());
    };
  }
  return [space](const at::Tensor& x) { return (space.decode(x) / space.sqrt_s()).to(x.scalar_type()); };
}


// The data event paired with each prior event: within each group of kOtGroup (the last group takes
// the rest), the permutation of the data minimising the summed squared distance of the momenta.
at::Tensor transport_order(const at::Tensor& data, const at::Tensor& prior) {
  const std::int64_t batch = data.size(0);
  std::vector<std::int64_t> order(static_cast<std::size_t>(batch));
  for (std::int64_t start = 0; start < batch; start += kOtGroup) {
    const std::int64_t n = std::min(kOtGroup, batch - start);
    const at::Tensor cost = at::cdist(prior.narrow(0, start, n).flatten(1), data.narrow(0, start, n).flatten(1)).pow(2);
    const std::vector<std::int64_t> column = min_cost_assignment(cost);
    for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(start + i)] = start + column[static_cast<std::size_t>(i)];
  }
  return at::tensor(order, at::kLong).to(data.device());
}

}  // namespace

ModelFamily::DensitySample ModelFamily::sample_with_density(QNetworkImpl& /*net*/, std::int64_t /*batch*/,
                                                            std::int64_t /*particles*/, at::Generator& /*gen*/) const {
  const std::string why = density_refusal();
  PHASEGEN_ASSERT(!why.empty(), "a family with a density but no sampler for it");
  throw Error(why);
}

// ---- Langevin ----

LangevinFamily::LangevinFamily(DiffusionOptions diffusion, LiftOptions lift, double sqrt_s)
    : diffusion_(std::move(diffusion)), lift_(lift), sqrt_s_(sqrt_s) {
  PHASEGEN_CHECK(std::isfinite(sqrt_s) && sqrt_s > 0, "model: expected sqrt_s > 0, but got ", sqrt_s);
}

at::Tensor LangevinFamily::loss(QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) const {
  return diffusion_.loss(net, lift_to_qspace(events.to(at::kDouble), lift_, gen).to(at::kFloat), gen);
}

at::Tensor LangevinFamily::sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles,
                                        at::Generator& gen, std::int64_t every, const EventCallback& on_events) const {
  LangevinDiffusion::StateCallback on_state;
  if (every > 0 && on_events) {
    on_state = [&](std::int64_t t, const at::Tensor& q) { on_events(t, rambo_map(q.to(at::kDouble), sqrt_s_)); };
  }
  at::Tensor q = diffusion_.sample(net, batch, particles, gen, every, on_state);
  return rambo_map(q.to(at::kDouble), sqrt_s_);
}

std::string LangevinFamily::sampler_description() const {
  const DiffusionOptions& o = diffusion_.options();
  if (o.sampler() == LangevinSampler::kHeun) return detail::concat("probability-flow ODE, heun, ", evaluations(), " NFE");
  return detail::concat("Euler-Maruyama on the reverse SDE, variance ", kSamplerVarianceNames.name(o.variance()), ", ",
                        evaluations(), " NFE");
}

std::string LangevinFamily::description() const {
  return "q-space " + diffusion_.options().description() + ", " + lift_.description() +
         " lift, sqrt_s = " + detail::concat(sqrt_s_) + " GeV";
}

std::string LangevinFamily::density_refusal() const {
  return "kind = langevin: its sampler is a stochastic process (the reverse SDE), and the density of the events it "
         "makes is not tractable; event weights need a flow model (kind = flow) trained with lift = random";
}

// ---- flow matching on a chart: the Dalitz plane, the antenna-chain chart ----

ChartFlowFamily::ChartFlowFamily(FlowMatching flow, std::int64_t coordinates, const char* what) : flow_(std::move(flow)) {
  PHASEGEN_CHECK(flow_.prior() == FlowPrior::kNormal || flow_.prior() == FlowPrior::kLogistic, what,
                 ": expected the normal or the logistic prior");
  flow_.set_coordinates(coordinates);
}

at::Tensor ChartFlowFamily::sample_states(QNetworkImpl& net, std::int64_t batch, at::Generator& gen, std::int64_t every,
                                          const EventCallback& on_events,
                                          const std::function<at::Tensor(const at::Tensor&)>& decode) const {
  auto keep = every_state(every, last_step(), on_events, decode);
  std::function<void(double, const at::Tensor&)> on_state;
  std::int64_t step = 0;
  if (keep) on_state = [&](double, const at::Tensor& s) { keep(step++, s); };
  return flow_.sample(net, batch, 1, gen, on_state);
}

std::string ChartFlowFamily::sampler_description() const {
  return detail::concat(ode_solver_name(flow_.solver()), ", ", evaluations(), " NFE");
}

DalitzFlowFamily::DalitzFlowFamily(FlowMatching flow, DalitzSpace space)
    : ChartFlowFamily(std::move(flow), 2, "Dalitz-plane flow"), space_(std::move(space)) {}

at::Tensor DalitzFlowFamily::loss(QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) const {
  PHASEGEN_CHECK(events.dim() == 3 && events.size(1) == 3, "prior = dalitz: expected three-body events, but got ",
                 events.sizes());
  return flow_.loss(net, space_.encode(events).to(events.device()), gen);
}

at::Tensor DalitzFlowFamily::sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                                    std::int64_t every, const EventCallback& on_events) const {
  PHASEGEN_CHECK(particles == 3, "prior = dalitz: expected N = 3, but got ", particles);
  const at::Tensor rotation = uniform_rotations(batch, gen);
  auto decode = [&space = space_, &rotation](const at::Tensor& s) { return space.decode(s, rotation); };
  return decode(sample_states(net, batch, gen, every, on_events, decode));
}

std::string DalitzFlowFamily::description() const { return flow_.description() + ", " + space_.description(); }

ModelFamily::DensitySample DalitzFlowFamily::sample_with_density(QNetworkImpl& net, std::int64_t batch, std::int64_t particles,
                                                                 at::Generator& gen) const {
  PHASEGEN_CHECK(particles == 3, "prior = dalitz: expected N = 3, but got ", particles);
  const at::Tensor rotation = uniform_rotations(batch, gen);
  const FlowDensitySample s = flow_.sample_with_density(net, batch, 1, gen);
  return {space_.decode(s.x, rotation), s.log_density - space_.flat_log_density(s.x), s.nonpositive};
}

ChainFlowFamily::ChainFlowFamily(FlowMatching flow, ChainSpace space, FlowCoupling coupling)
    : ChartFlowFamily(std::move(flow), ChainSpace::dimension(space.particles()), "antenna-chain flow"),
      space_(std::move(space)),
      coupling_(coupling) {
  PHASEGEN_CHECK(coupling_ != FlowCoupling::kFibre, "prior = chain: expected coupling = independent or ot (the chart has no fibre)");
}

at::Tensor ChainFlowFamily::prepare(const at::Tensor& events, at::Generator& gen) const {
  return in_order(events, chain_history(events, space_.box(), gen));
}

at::Tensor ChainFlowFamily::loss(QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) const {
  at::Tensor x0 = space_.encode(events, gen).to(events.device());
  const at::Tensor x1 = flow_.sample_prior(x0.size(0), 1, gen).to(x0.device());
  if (coupling_ == FlowCoupling::kOt) x0 = x0.index_select(0, transport_order(x0, x1));
  return flow_.loss(net, x0, x1, gen);
}

at::Tensor ChainFlowFamily::sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                                   std::int64_t every, const EventCallback& on_events) const {
  PHASEGEN_CHECK(particles == space_.particles(), "prior = chain: expected N = ", space_.particles(), ", but got ", particles);
  // One labelling per event, the same along its path: the chart keeps no particle labels.
  const at::Tensor labels = at::argsort(at::rand({batch, particles}, gen, at::TensorOptions().dtype(at::kDouble).device(gen.device())),
                                        /*dim=*/1, /*descending=*/false);
  auto decode = [&space = space_, &labels](const at::Tensor& s) {
    const at::Tensor p = space.decode(s);
    return p.gather(1, labels.to(p.device()).unsqueeze(2).expand({-1, -1, 4}));
  };
  return decode(sample_states(net, batch, gen, every, on_events, decode));
}

std::string ChainFlowFamily::description() const {
  const std::string coupling = coupling_ == FlowCoupling::kOt ? ", ot coupling" : "";
  return flow_.description() + coupling + ", " + space_.description();
}

std::string ChainFlowFamily::density_refusal() const {
  return "prior = chain: the density of an event sums over every chain order of its particles that reaches it (the "
         "sampler shuffles them), which is not computed; event weights need prior = rambo, gaussian, latent or dalitz";
}

// ---- flow matching ----

FlowFamily::FlowFamily(FlowMatching flow, StateSpace space, StateFeatures features, FlowCoupling coupling)
    : flow_(std::move(flow)), space_(std::move(space)), features_(features), coupling_(coupling) {
  flow_.set_features(event_features(space_, features_));
  const bool rambo_prior = (space_.kind() == StateSpace::Kind::kQ && flow_.prior() == FlowPrior::kRambo) ||
                           (space_.kind() == StateSpace::Kind::kLatent && flow_.prior() == FlowPrior::kNormal);
  PHASEGEN_CHECK(coupling_ == FlowCoupling::kIndependent || (rambo_prior && space_.lift().kind() == LiftOptions::Kind::kRandom),
                 "coupling = ", kFlowCouplingNames.name(coupling_), ": expected the RAMBO prior (q-space rambo or z-space latent) and the random lift");
}

GaussianPrior FlowFamily::fit_gaussian(const at::Tensor& events, const StateSpace& space, at::Generator& gen) {
  return GaussianPrior::fit(space.encode(events, gen).to(at::kDouble));
}

std::pair<at::Tensor, at::Tensor> FlowFamily::training_pairs(const at::Tensor& events, at::Generator& gen) const {
  if (coupling_ != FlowCoupling::kIndependent) {
    at::Tensor x1 = flow_.sample_prior(events.size(0), events.size(1), gen);
    const at::Tensor q1 = space_.to_q(x1);
    at::Tensor data = events.to(at::kDouble);
    if (coupling_ == FlowCoupling::kOt) data = data.index_select(0, transport_order(data, rambo_map(q1.to(at::kDouble), space_.sqrt_s())));
    const FibrePoint fibre = fibre_point(q1, space_.sqrt_s());
    return {space_.from_q(rambo_inverse(data, fibre)).to(at::kFloat), x1};
  }
  at::Tensor x0 = space_.encode(events, gen);
  return {x0, flow_.sample_prior(events.size(0), events.size(1), gen).to(x0.scalar_type())};
}

at::Tensor FlowFamily::loss(QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) const {
  auto [x0, x1] = training_pairs(events, gen);
  return flow_.loss(net, x0, x1, gen);
}

at::Tensor FlowFamily::sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                                    std::int64_t every, const EventCallback& on_events) const {
  auto keep = every_state(every, last_step(), on_events, space_);
  std::function<void(double, const at::Tensor&)> on_state;
  std::int64_t step = 0;
  if (keep) on_state = [&](double, const at::Tensor& x) { keep(step++, x); };
  return space_.decode(flow_.sample(net, batch, particles, gen, on_state));
}

std::string FlowFamily::sampler_description() const {
  return detail::concat(ode_solver_name(flow_.solver()), ", ", evaluations(), " NFE");
}

std::string FlowFamily::description() const {
  const std::string coupling = coupling_ == FlowCoupling::kIndependent ? "" : detail::concat(", ", kFlowCouplingNames.name(coupling_), " coupling");
  return flow_.description() + coupling + ", " +
         space_.description() + features_description(features_);
}

std::string FlowFamily::density_refusal() const {
  if (!space_.conserving()) {
    return "a p-space model's samples are not on phase space (their total momentum is not conserved), so they have "
           "no density there; event weights need a q- or z-space flow";
  }
  if (space_.lift().kind() == LiftOptions::Kind::kFixed) {
    return "the model was trained with the fixed embedding (lift = fixed): its states lie on one point of each fibre, "
           "where its density in q-space is singular; event weights need a flow trained with lift = random";
  }
  return {};
}

ModelFamily::DensitySample FlowFamily::sample_with_density(QNetworkImpl& net, std::int64_t batch, std::int64_t particles,
                                                           at::Generator& gen) const {
  const std::string why = density_refusal();
  PHASEGEN_CHECK(why.empty(), why);
  const FlowDensitySample s = flow_.sample_with_density(net, batch, particles, gen);
  // The reference: the state's density when the events are flat phase space, p_ref in q-space
  // (whatever the prior) and N(0, I) in z-space.
  const at::Tensor reference = space_.kind() == StateSpace::Kind::kLatent ? standard_normal_log_density(s.x)
                                                                          : rambo_prior_log_density(s.x);
  return {space_.decode(s.x), s.log_density - reference, s.nonpositive};
}

// ---- variance-preserving diffusion ----

VpFamily::VpFamily(VpOptions options, StateSpace space, StateFeatures features)
    : vp_(std::move(options)), space_(std::move(space)), features_(features) {
  vp_.set_features(event_features(space_, features_));
}

at::Tensor VpFamily::loss(QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) const {
  return vp_.loss(net, space_.encode(events, gen), gen);
}

at::Tensor VpFamily::sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                                  std::int64_t every, const EventCallback& on_events) const {
  auto keep = every_state(every, last_step(), on_events, space_);
  VpDiffusion::StateCallback on_state;
  if (keep) on_state = [&](std::int64_t step, double, const at::Tensor& x) { keep(step, x); };
  return space_.decode(vp_.sample(net, batch, particles, gen, on_state));
}

std::string VpFamily::sampler_description() const {
  return detail::concat(kVpSamplerNames.name(vp_.options().sampler()), ", ", evaluations(), " NFE, ",
                        kVpGridNames.name(vp_.options().grid()), " grid");
}

std::string VpFamily::description() const {
  return "VP diffusion: " + vp_.options().description() + ", " + space_.description() +
         features_description(features_);
}

std::string VpFamily::density_refusal() const {
  return "kind = " + std::string(space_.conserving() ? "vp" : "pddpm") +
         ": its sampler is a diffusion whose density of an event is not tractable; event weights need a flow model "
         "(kind = flow) trained with lift = random";
}

}  // namespace phasegen
