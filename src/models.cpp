#include "phasegen/models.hpp"

#include "phasegen/error.hpp"

namespace phasegen {

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
    at::Tensor q0 = lift_to_qspace(events.to(at::kDouble), lift_, gen).to(at::kFloat);
    return diffusion_.loss(net, q0, gen);
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

}  // namespace phasegen
