#include "phasegen/models/space.hpp"

#include <cmath>

#include "phasegen/core/error.hpp"
#include "phasegen/physics/gaussian.hpp"

namespace phasegen {

StateSpace::StateSpace(Kind kind, LiftOptions lift, double scale, double sqrt_s)
    : kind_(kind), lift_(lift), scale_(scale), sqrt_s_(sqrt_s) {
  PHASEGEN_CHECK(std::isfinite(sqrt_s) && sqrt_s > 0, "model: expected sqrt_s > 0, but got ", sqrt_s);
  PHASEGEN_CHECK(kind != Kind::kMomentum || (std::isfinite(scale) && scale > 0),
                 "momentum space: expected a scale x > 0, but got ", scale);
}

StateSpace StateSpace::q_space(LiftOptions lift, double sqrt_s) { return StateSpace(Kind::kQ, lift, 0.0, sqrt_s); }

StateSpace StateSpace::latent(LiftOptions lift, double sqrt_s) {
  return StateSpace(Kind::kLatent, lift, 0.0, sqrt_s);
}

StateSpace StateSpace::momentum(double scale, double sqrt_s) {
  return StateSpace(Kind::kMomentum, LiftOptions::random(), scale, sqrt_s);
}

double StateSpace::momentum_scale(const at::Tensor& events) {
  PHASEGEN_CHECK(events.dim() == 3 && events.size(2) == 4 && events.size(0) > 0,
                 "momentum scale: expected events [n, N, 4], but got ", events.sizes());
  return std::sqrt(events.narrow(2, 1, 3).to(at::kDouble).pow(2).mean().item<double>());
}

at::Tensor StateSpace::encode(const at::Tensor& events, at::Generator& gen) const {
  PHASEGEN_CHECK(events.dim() == 3 && events.size(2) == 4, "expected events [batch, N, 4], but got ", events.sizes());
  at::Tensor p = events.to(at::kDouble);
  switch (kind_) {
    case Kind::kQ: return lift_to_qspace(p, lift_, gen).to(at::kFloat);
    case Kind::kLatent: return qspace_to_gaussian(lift_to_qspace(p, lift_, gen)).to(at::kFloat);
    case Kind::kMomentum: return (p.narrow(2, 1, 3) / scale_).to(at::kFloat);
  }
  throw Error("unreachable state space");
}

at::Tensor StateSpace::decode(const at::Tensor& x) const {
  PHASEGEN_CHECK(x.dim() == 3 && x.size(2) == 3, "expected states [batch, N, 3], but got ", x.sizes());
  at::Tensor s = x.to(at::kDouble);
  switch (kind_) {
    case Kind::kQ: return rambo_map(s, sqrt_s_);
    case Kind::kLatent: return rambo_map(gaussian_to_qspace(s), sqrt_s_);
    case Kind::kMomentum: {
      at::Tensor p = s * scale_;
      return at::cat({at::linalg_vector_norm(p, 2, {2}, true, c10::nullopt), p}, 2);
    }
  }
  throw Error("unreachable state space");
}

at::Tensor StateSpace::from_q(const at::Tensor& q) const {
  PHASEGEN_CHECK(conserving(), "momentum space: states are not q-space points");
  return kind_ == Kind::kLatent ? qspace_to_gaussian(q.to(at::kDouble)) : q.to(at::kDouble);
}

at::Tensor StateSpace::to_q(const at::Tensor& x) const {
  PHASEGEN_CHECK(conserving(), "momentum space: states are not q-space points");
  return kind_ == Kind::kLatent ? gaussian_to_qspace(x.to(at::kDouble)) : x.to(at::kDouble);
}

const char* space_name(StateSpace::Kind kind) {
  switch (kind) {
    case StateSpace::Kind::kQ: return "q";
    case StateSpace::Kind::kLatent: return "latent";
    case StateSpace::Kind::kMomentum: return "momentum";
  }
  return "unknown";
}

std::string StateSpace::description() const {
  const std::string energy = ", sqrt_s = " + detail::concat(sqrt_s_) + " GeV";
  switch (kind_) {
    case Kind::kQ: return "q-space, " + lift_.description() + " lift" + energy;
    case Kind::kLatent: return "Gaussianised z-space, " + lift_.description() + " lift" + energy;
    case Kind::kMomentum:
      return "p-space P/x, x = " + detail::concat(scale_) + " GeV (does not conserve momentum)" + energy;
  }
  return "unknown space";
}

}  // namespace phasegen
