// Where a model's state lives, and how events get there and back.
//
//   auto space = phasegen::StateSpace::latent(phasegen::LiftOptions::random(), 91.2);
//   at::Tensor z = space.encode(events, gen);     // [b, N, 4] GeV -> [b, N, 3] float32
//   at::Tensor p = space.decode(z);               // [b, N, 3] -> [b, N, 4] float64, an exact event
//
// q: the RAMBO q-space of the paper (events lifted exactly, rambo_map back).
// latent: q sent through the Gaussian bijection, where N(0, I) is exactly the RAMBO prior, so a
//   standard normal at the noise end is uniform phase space.
// momentum: the paper's p-space baselines, P / x with x one scale for all components; decoding
//   sets E = |p| but nothing enforces sum p = (sqrt_s, 0). The only space that does not conserve.
//
// The physics and its formulas: docs/PHYSICS.md.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "phasegen/core/names.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen {

/// The features a network of a flow or VP model may see beside its state: none; the event the
/// state decodes to, (E, p) / sqrt_s per particle (4 extra inputs), which makes the target density,
/// a simple function of the momenta, easy to read off for a network working in q- or z-space, where
/// the momenta are a boost and a rescaling away; or the event's invariants (N extra inputs per
/// particle: ln x_i and ln y_ij = ln(s_ij / s) for j != i, each / 10, see log_invariant_features),
/// which stay resolved at the soft and collinear poles where linear features are flat.
enum class StateFeatures { kNone, kEvent, kInvariants };
inline constexpr NameTable<StateFeatures, 3> kStateFeaturesNames{
    "features",
    "features",
    {{{StateFeatures::kNone, "none"}, {StateFeatures::kEvent, "event"}, {StateFeatures::kInvariants, "invariants"}}}};
/// "", ", network sees the event" or ", network sees the event's invariants" (for descriptions).
inline const char* features_description(StateFeatures features) {
  return features == StateFeatures::kEvent        ? ", network sees the event"
         : features == StateFeatures::kInvariants ? ", network sees the event's invariants"
                                                  : "";
}
/// Extra network inputs per particle: 0, 4 or N.
inline std::int64_t extra_inputs(StateFeatures features, std::int64_t particles) {
  return features == StateFeatures::kEvent ? 4 : features == StateFeatures::kInvariants ? particles : 0;
}

class StateSpace {
 public:
  enum class Kind { kQ, kLatent, kMomentum };

  static StateSpace q_space(LiftOptions lift, double sqrt_s);
  static StateSpace latent(LiftOptions lift, double sqrt_s);
  /// P / scale; `scale` in GeV (see momentum_scale).
  static StateSpace momentum(double scale, double sqrt_s);
  /// The root mean square of the momentum components of events [n, N, 4], GeV: the x that makes
  /// P / x of unit variance.
  static double momentum_scale(const at::Tensor& events);

  Kind kind() const { return kind_; }
  /// Whether every decoded state is an exact phase-space point (q and latent).
  bool conserving() const { return kind_ != Kind::kMomentum; }
  const LiftOptions& lift() const { return lift_; }
  double scale() const { return scale_; }
  double sqrt_s() const { return sqrt_s_; }

  /// Events [b, N, 4] (GeV, any floating type) -> states [b, N, 3] float32.
  at::Tensor encode(const at::Tensor& events, at::Generator& gen) const;
  /// States [b, N, 3] -> events [b, N, 4] float64, GeV.
  at::Tensor decode(const at::Tensor& x) const;
  /// q and latent spaces: the state of a q-space point, and back (float64 in, float64 out).
  at::Tensor from_q(const at::Tensor& q) const;
  at::Tensor to_q(const at::Tensor& x) const;

  std::string description() const;

 private:
  StateSpace(Kind kind, LiftOptions lift, double scale, double sqrt_s);
  Kind kind_;
  LiftOptions lift_;
  double scale_;
  double sqrt_s_;
};

const char* space_name(StateSpace::Kind kind);  ///< "q", "latent" or "momentum"

}  // namespace phasegen
