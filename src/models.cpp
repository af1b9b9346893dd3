#include "phasegen/models.hpp"

#include "phasegen/error.hpp"

#include <cmath>
#include <optional>
#include <vector>

namespace phasegen {

namespace {

// A minibatch of events [batch, N, 4] lifted to q-space in float64, handed to networks in float32.
at::Tensor lift_batch(const at::Tensor& events, const LiftOptions& lift, at::Generator& gen) {
  return lift_to_qspace(events.to(at::kDouble), lift, gen).to(at::kFloat);
}

}  // namespace

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
                        {"lift", lift_.kind() == LiftOptions::Kind::kRandom ? "random" : "fixed"},
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
  const LiftOptions lift = key_value(text, "lift") == "random" ? LiftOptions::random()
                                                                : LiftOptions::fixed(std::stod(key_value(text, "lift_scale")));
  return LangevinModel(o, lift, std::stod(key_value(text, "sqrt_s")));
}

LossFunction LangevinModel::loss_function() const {
  return [this](QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) {
    return diffusion_.loss(net, lift_batch(events, lift_, gen), gen);
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

std::string LangevinModel::description() const {
  return diffusion_.options().description() + ", " + lift_.description() + " lift, sqrt_s = " +
         detail::concat(sqrt_s_) + " GeV";
}

FlowModel::FlowModel(FlowMatching flow, LiftOptions lift, double sqrt_s)
    : flow_(std::move(flow)), lift_(lift), sqrt_s_(sqrt_s) {
  PHASEGEN_CHECK(std::isfinite(sqrt_s) && sqrt_s > 0, "model: expected sqrt_s > 0, but got ", sqrt_s);
}

FlowModel FlowModel::with_fitted_gaussian(const at::Tensor& events, OdeSolver solver, std::int64_t nfe,
                                          LiftOptions lift, double sqrt_s, std::uint64_t seed) {
  at::Generator gen = make_generator(seed);
  GaussianPrior g = GaussianPrior::fit(lift_to_qspace(events.to(at::kDouble), lift, gen));
  return FlowModel(FlowMatching(FlowPrior::kGaussian, solver, nfe, g), lift, sqrt_s);
}

std::string FlowModel::settings_text() const {
  std::vector<std::pair<std::string, std::string>> entries = {
      {"prior", flow_prior_name(flow_.prior())},
      {"solver", ode_solver_name(flow_.solver())},
      {"nfe", std::to_string(flow_.nfe())},
      {"lift", lift_.kind() == LiftOptions::Kind::kRandom ? "random" : "fixed"},
      {"lift_scale", detail::concat(lift_.scale())},
      {"sqrt_s", detail::concat(sqrt_s_)}};
  if (flow_.gaussian()) entries.emplace_back("gaussian", flow_.gaussian()->to_text());
  return to_key_values(entries);
}

FlowModel FlowModel::from_settings_text(const std::string& text) {
  const FlowPrior prior = flow_prior_from_name(key_value(text, "prior"));
  std::optional<GaussianPrior> gaussian;
  if (prior == FlowPrior::kGaussian) gaussian = GaussianPrior::from_text(key_value(text, "gaussian"));
  const LiftOptions lift = key_value(text, "lift") == "random" ? LiftOptions::random()
                                                                : LiftOptions::fixed(std::stod(key_value(text, "lift_scale")));
  return FlowModel(FlowMatching(prior, ode_solver_from_name(key_value(text, "solver")), std::stoll(key_value(text, "nfe")),
                                gaussian),
                   lift, std::stod(key_value(text, "sqrt_s")));
}

LossFunction FlowModel::loss_function() const {
  return [this](QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) {
    return flow_.loss(net, lift_batch(events, lift_, gen), gen);
  };
}

at::Tensor FlowModel::sample_events(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                                    const std::function<void(std::int64_t, const at::Tensor&)>& on_events) const {
  std::function<void(double, const at::Tensor&)> on_state;
  std::int64_t step = 0;
  if (on_events) {
    on_state = [&](double, const at::Tensor& q) { on_events(step++, rambo_map(q.to(at::kDouble), sqrt_s_)); };
  }
  at::Tensor q = flow_.sample(net, batch, particles, gen, on_state);
  return rambo_map(q.to(at::kDouble), sqrt_s_);
}

std::string FlowModel::description() const {
  return flow_.description() + ", " + lift_.description() + " lift, sqrt_s = " + detail::concat(sqrt_s_) + " GeV";
}

}  // namespace phasegen
