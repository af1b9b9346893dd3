#include "phasegen/models.hpp"

#include <cmath>
#include <optional>
#include <sstream>
#include <vector>

#include "phasegen/assignment.hpp"
#include "phasegen/error.hpp"

namespace phasegen {

namespace {

std::string lift_kind(const LiftOptions& lift) { return lift.kind() == LiftOptions::Kind::kRandom ? "random" : "fixed"; }

// Replaces the value of `key` in "key = value" lines; the key must be there.
std::string with_value(const std::string& text, const std::string& key, const std::string& value) {
  std::istringstream in(text);
  std::string line, out;
  bool found = false;
  const std::string prefix = key + " = ";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) {
      line = prefix + value;
      found = true;
    }
    out += line + "\n";
  }
  PHASEGEN_CHECK(found, key, ": not a setting of this model");
  return out;
}

// Decodes the states a sampler reports for every `every`-th step from the first, and the last.
std::function<void(std::int64_t, const at::Tensor&)> every_state(std::int64_t every, std::int64_t last,
                                                                 const Model::EventCallback& on_events,
                                                                 const StateSpace& space) {
  if (every <= 0 || !on_events) return {};
  return [=, &space](std::int64_t step, const at::Tensor& x) {
    if (step % every == 0 || step == last) on_events(step, space.decode(x));
  };
}

// The network's view of the event a state decodes to; captures the space by value, so that the
// function outlives any copy of the model.
InputFeatures event_features(const StateSpace& space, StateFeatures features) {
  if (features == StateFeatures::kNone) return {};
  PHASEGEN_CHECK(space.conserving(), "features = event: expected a q- or z-space model, but got ", space.description());
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

StateFeatures state_features_from_name(const std::string& name) {
  if (name == "none") return StateFeatures::kNone;
  if (name == "event") return StateFeatures::kEvent;
  throw Error(detail::concat("features: unknown features '", name, "': expected none or event"));
}

const char* state_features_name(StateFeatures features) {
  return features == StateFeatures::kEvent ? "event" : "none";
}

std::int64_t extra_inputs(StateFeatures features) { return features == StateFeatures::kEvent ? 4 : 0; }

FlowCoupling flow_coupling_from_name(const std::string& name) {
  if (name == "independent") return FlowCoupling::kIndependent;
  if (name == "fibre") return FlowCoupling::kFibre;
  if (name == "ot") return FlowCoupling::kOt;
  throw Error(detail::concat("coupling: unknown coupling '", name, "': expected independent, fibre or ot"));
}

const char* flow_coupling_name(FlowCoupling coupling) {
  if (coupling == FlowCoupling::kOt) return "ot";
  return coupling == FlowCoupling::kFibre ? "fibre" : "independent";
}

std::unique_ptr<Model> model_from_settings(const std::string& kind, const std::string& settings_text,
                                           const std::vector<std::pair<std::string, std::string>>& overrides) {
  // Settings written before a key existed are completed with its default first, so that every
  // sampler setting can be overridden on any checkpoint.
  std::string text = overrides.empty() ? settings_text : model_from_settings(kind, settings_text)->settings_text();
  for (const auto& [key, value] : overrides) text = with_value(text, key, value);
  if (kind == "langevin") return std::make_unique<LangevinModel>(LangevinModel::from_settings_text(text));
  if (kind == "flow") return std::make_unique<FlowModel>(FlowModel::from_settings_text(text));
  if (kind == "vp") return std::make_unique<VpModel>(VpModel::from_settings_text(text));
  throw Error(detail::concat("unknown model kind '", kind, "': expected langevin, flow or vp"));
}

// ---- Langevin ----

LangevinModel::LangevinModel(DiffusionOptions diffusion, LiftOptions lift, double sqrt_s)
    : diffusion_(std::move(diffusion)), lift_(lift), sqrt_s_(sqrt_s) {
  PHASEGEN_CHECK(std::isfinite(sqrt_s) && sqrt_s > 0, "model: expected sqrt_s > 0, but got ", sqrt_s);
}

std::string LangevinModel::settings_text() const {
  const DiffusionOptions& o = diffusion_.options();
  return to_key_values({{"schedule", o.schedule},
                        {"reference_score", o.reference_score},
                        {"epsilon", detail::concat(o.epsilon)},
                        {"parametrisation", o.parametrisation},
                        {"weighting", o.weighting},
                        {"divergence", o.divergence},
                        {"variance", o.variance},
                        {"sampler", o.sampler},
                        {"nfe", detail::concat(o.nfe)},
                        {"lift", lift_kind(lift_)},
                        {"lift_scale", detail::concat(lift_.scale())},
                        {"sqrt_s", detail::concat(sqrt_s_)}});
}

LangevinModel LangevinModel::from_settings_text(const std::string& text) {
  DiffusionOptions o;
  o.schedule = key_value(text, "schedule");
  o.reference_score = key_value(text, "reference_score");
  o.epsilon = std::stod(key_value(text, "epsilon"));
  o.parametrisation = key_value(text, "parametrisation");
  o.weighting = key_value(text, "weighting");
  o.divergence = key_value(text, "divergence");
  o.variance = key_value(text, "variance");
  // Checkpoints from before the fast samplers have neither key: the paper's sampler.
  o.sampler = key_value_or(text, "sampler", "em");
  o.nfe = std::stoll(key_value_or(text, "nfe", "0"));
  o.validate();
  const LiftOptions lift = key_value(text, "lift") == "random" ? LiftOptions::random()
                                                                : LiftOptions::fixed(std::stod(key_value(text, "lift_scale")));
  return LangevinModel(o, lift, std::stod(key_value(text, "sqrt_s")));
}

LossFunction LangevinModel::loss_function() const {
  return [this](QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) {
    return diffusion_.loss(net, lift_to_qspace(events.to(at::kDouble), lift_, gen).to(at::kFloat), gen);
  };
}

at::Tensor LangevinModel::sample_events(QNetworkImpl& net, std::int64_t batch, std::int64_t particles,
                                        at::Generator& gen, std::int64_t every, const EventCallback& on_events) const {
  LangevinDiffusion::StateCallback on_state;
  if (every > 0 && on_events) {
    on_state = [&](std::int64_t t, const at::Tensor& q) { on_events(t, rambo_map(q.to(at::kDouble), sqrt_s_)); };
  }
  at::Tensor q = diffusion_.sample(net, batch, particles, gen, every, on_state);
  return rambo_map(q.to(at::kDouble), sqrt_s_);
}

std::string LangevinModel::sampler_description() const {
  const DiffusionOptions& o = diffusion_.options();
  if (o.sampler == "heun") return detail::concat("probability-flow ODE, heun, ", evaluations(), " NFE");
  return detail::concat("Euler-Maruyama on the reverse SDE, variance ", o.variance, ", ", evaluations(), " NFE");
}

std::string LangevinModel::description() const {
  return "q-space " + diffusion_.options().description() + ", " + lift_.description() +
         " lift, sqrt_s = " + detail::concat(sqrt_s_) + " GeV";
}

// ---- flow matching ----

FlowModel::FlowModel(FlowMatching flow, StateSpace space, StateFeatures features, FlowCoupling coupling)
    : flow_(std::move(flow)), space_(std::move(space)), features_(features), coupling_(coupling) {
  flow_.set_features(event_features(space_, features_));
  const bool rambo_prior = (space_.kind() == StateSpace::Kind::kQ && flow_.prior() == FlowPrior::kRambo) ||
                           (space_.kind() == StateSpace::Kind::kLatent && flow_.prior() == FlowPrior::kNormal);
  PHASEGEN_CHECK(coupling_ == FlowCoupling::kIndependent || (rambo_prior && space_.lift().kind() == LiftOptions::Kind::kRandom),
                 "coupling = ", flow_coupling_name(coupling_), ": expected the RAMBO prior (q-space rambo or z-space latent) and the random lift");
}

FlowModel FlowModel::with_fitted_gaussian(const at::Tensor& events, OdeSolver solver, std::int64_t nfe,
                                          StateSpace space, std::uint64_t seed, StateFeatures features) {
  at::Generator gen = make_generator(seed);
  GaussianPrior g = GaussianPrior::fit(space.encode(events, gen).to(at::kDouble));
  return FlowModel(FlowMatching(FlowPrior::kGaussian, solver, nfe, g), space, features);
}

std::string FlowModel::settings_text() const {
  std::vector<std::pair<std::string, std::string>> entries = {{"prior", flow_prior_name(flow_.prior())},
                                                              {"solver", ode_solver_name(flow_.solver())},
                                                              {"nfe", std::to_string(flow_.nfe())},
                                                              {"features", state_features_name(features_)},
                                                              {"coupling", flow_coupling_name(coupling_)},
                                                              {"time_law", flow_.time_law()}};
  for (auto& entry : space_.settings()) entries.push_back(std::move(entry));
  if (flow_.gaussian()) entries.emplace_back("gaussian", flow_.gaussian()->to_text());
  return to_key_values(entries);
}

FlowModel FlowModel::from_settings_text(const std::string& text) {
  const FlowPrior prior = flow_prior_from_name(key_value(text, "prior"));
  std::optional<GaussianPrior> gaussian;
  if (prior == FlowPrior::kGaussian) gaussian = GaussianPrior::from_text(key_value(text, "gaussian"));
  FlowMatching flow(prior, ode_solver_from_name(key_value(text, "solver")), std::stoll(key_value(text, "nfe")),
                    gaussian);
  flow.set_time_law(key_value_or(text, "time_law", "uniform"));
  return FlowModel(std::move(flow),
                   StateSpace::from_settings_text(text), state_features_from_name(key_value_or(text, "features", "none")),
                   flow_coupling_from_name(key_value_or(text, "coupling", "independent")));
}

std::pair<at::Tensor, at::Tensor> FlowModel::training_pairs(const at::Tensor& events, at::Generator& gen) const {
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

LossFunction FlowModel::loss_function() const {
  return [this](QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) {
    auto [x0, x1] = training_pairs(events, gen);
    return flow_.loss(net, x0, x1, gen);
  };
}

at::Tensor FlowModel::sample_events(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                                    std::int64_t every, const EventCallback& on_events) const {
  auto keep = every_state(every, last_step(), on_events, space_);
  std::function<void(double, const at::Tensor&)> on_state;
  std::int64_t step = 0;
  if (keep) on_state = [&](double, const at::Tensor& x) { keep(step++, x); };
  return space_.decode(flow_.sample(net, batch, particles, gen, on_state));
}

std::string FlowModel::sampler_description() const {
  return detail::concat(ode_solver_name(flow_.solver()), ", ", evaluations(), " NFE");
}

std::string FlowModel::description() const {
  const std::string coupling = coupling_ == FlowCoupling::kIndependent ? "" : detail::concat(", ", flow_coupling_name(coupling_), " coupling");
  return flow_.description() + coupling + ", " +
         space_.description() + (features_ == StateFeatures::kEvent ? ", network sees the event" : "");
}

// ---- variance-preserving diffusion ----

VpModel::VpModel(VpOptions options, StateSpace space, StateFeatures features)
    : vp_(std::move(options)), space_(std::move(space)), features_(features) {
  vp_.set_features(event_features(space_, features_));
}

std::string VpModel::settings_text() const {
  const VpOptions& o = vp_.options();
  std::vector<std::pair<std::string, std::string>> entries = {
      {"schedule", o.schedule}, {"sampler", o.sampler},  {"nfe", std::to_string(o.nfe)},
      {"grid", o.grid},         {"features", state_features_name(features_)}};
  for (auto& entry : space_.settings()) entries.push_back(std::move(entry));
  return to_key_values(entries);
}

VpModel VpModel::from_settings_text(const std::string& text) {
  VpOptions o;
  o.schedule = key_value(text, "schedule");
  o.sampler = key_value(text, "sampler");
  o.nfe = std::stoll(key_value(text, "nfe"));
  o.grid = key_value(text, "grid");
  o.validate();
  return VpModel(o, StateSpace::from_settings_text(text), state_features_from_name(key_value_or(text, "features", "none")));
}

LossFunction VpModel::loss_function() const {
  return [this](QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) {
    return vp_.loss(net, space_.encode(events, gen), gen);
  };
}

at::Tensor VpModel::sample_events(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                                  std::int64_t every, const EventCallback& on_events) const {
  auto keep = every_state(every, last_step(), on_events, space_);
  VpDiffusion::StateCallback on_state;
  if (keep) on_state = [&](std::int64_t step, double, const at::Tensor& x) { keep(step, x); };
  return space_.decode(vp_.sample(net, batch, particles, gen, on_state));
}

std::string VpModel::sampler_description() const {
  return detail::concat(vp_.options().sampler, ", ", evaluations(), " NFE, ", vp_.options().grid, " grid");
}

std::string VpModel::description() const {
  return "VP diffusion: " + vp_.options().description() + ", " + space_.description() +
         (features_ == StateFeatures::kEvent ? ", network sees the event" : "");
}

}  // namespace phasegen
