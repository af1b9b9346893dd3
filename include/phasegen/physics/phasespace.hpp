// The exact phase-space core: RAMBO prior, the map q -> p, its fibre and the lift p -> q.
//
//   auto gen = phasegen::make_generator(42);
//   at::Tensor q = phasegen::sample_rambo_prior(1000, 5, gen);   // [1000, 5, 3]
//   at::Tensor p = phasegen::rambo_map(q, 91.2);                  // [1000, 5, 4], flat phase space
//   at::Tensor q2 = phasegen::lift_to_qspace(p, phasegen::LiftOptions::random(), gen);
//   // rambo_map(q2, 91.2) equals p to round-off.
//
// Conventions: q-space holds N free 3-vectors per event, shape [batch, N, 3], each read as
// the massless 4-vector (|q|, q). Events are [batch, N, 4] with components (E, px, py, pz)
// in the centre-of-momentum frame, sum of 4-momenta = (sqrt_s, 0, 0, 0). q-space is
// dimensionless; momenta carry the unit of sqrt_s (GeV when physical). All maps are written
// once, on tensors, for any device; use float64 for them.
//
// The physics and its formulas: docs/PHYSICS.md.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "phasegen/core/random.hpp"

namespace phasegen {

/// A point of the fibre of the RAMBO map: boost b (the spatial part of a 4-velocity,
/// gamma = sqrt(1 + |b|^2)) and scale x, one per event.
struct FibrePoint {
  at::Tensor boost;  ///< [batch, 3]
  at::Tensor scale;  ///< [batch]
};

/// How an event is lifted to q-space: a random point of its fibre (exact for p_ref), or the
/// paper's fixed embedding b = 0 with a fixed scale x, quoted for unit total energy.
class LiftOptions {
 public:
  enum class Kind { kRandom, kFixed };
  static LiftOptions random() { return LiftOptions(Kind::kRandom, 0.0); }
  /// q = p / (x sqrt_s); the paper uses x = 0.15 for N = 3 and x = 0.0846 for N = 10.
  static LiftOptions fixed(double scale);
  Kind kind() const { return kind_; }
  double scale() const { return scale_; }
  std::string description() const;

 private:
  LiftOptions(Kind kind, double scale) : kind_(kind), scale_(scale) {}
  Kind kind_;
  double scale_;
};

/// Draws q from the RAMBO prior p_ref: every q_i independent and isotropic with
/// |q_i| ~ Gamma(2, 1). Returns [batch, particles, 3] of `dtype` on the generator's device.
at::Tensor sample_rambo_prior(std::int64_t batch, std::int64_t particles, at::Generator& gen,
                              at::ScalarType dtype = at::kDouble);

/// log p_ref(q) = sum_i [-|q_i| - log(4 pi |q_i|)]. q: [batch, N, 3] -> [batch].
at::Tensor rambo_prior_log_density(const at::Tensor& q);

/// Exact score grad log p_ref = -(1 + 1/|q_i|) q_hat_i. q: [batch, N, 3] -> [batch, N, 3].
at::Tensor rambo_prior_score(const at::Tensor& q);

/// Regularised score f_eps(q) = -q_hat - q / (|q|^2 + eps^2), free of the 1/|q| pole.
at::Tensor rambo_prior_score_regularised(const at::Tensor& q, double eps = 0.2);

/// The massless 4-vectors (|q_i|, q_i). [..., 3] -> [..., 4].
at::Tensor massless_momenta(const at::Tensor& q);

/// The RAMBO map phi: q [batch, N, 3] -> p [batch, N, 4] on massless phase space with total
/// momentum (sqrt_s, 0, 0, 0), exact to round-off. Written in light-cone form along the boost
/// so that particles moving against a large boost keep full absolute precision.
at::Tensor rambo_map(const at::Tensor& q, double sqrt_s);

/// The fibre coordinates (b, x) that phi discards for q: b = -Qvec/M, x = sqrt_s/M.
FibrePoint fibre_point(const at::Tensor& q, double sqrt_s);

/// The inverse of phi on a chosen fibre point: q_i = (1/x) Lambda(-b) p_i.
/// p: [batch, N, 4], fibre: b [batch, 3], x [batch] -> q [batch, N, 3].
at::Tensor rambo_inverse(const at::Tensor& p, const FibrePoint& fibre);

/// Draws the fibre point of a fresh RAMBO q-set without drawing the q's:
/// Q0 ~ Gamma(2N, 1), u ~ Beta(3/2, N - 1), isotropic n; b = -sqrt(u/(1-u)) n,
/// x = sqrt_s / (Q0 sqrt(1 - u)). `sqrt_s`: [batch] per-event total energies.
FibrePoint sample_fibre_point(std::int64_t particles, const at::Tensor& sqrt_s, at::Generator& gen);

/// Lifts events p [batch, N, 4] (CM frame) to q-space [batch, N, 3] so that
/// rambo_map(q, sqrt_s) == p. With LiftOptions::random() lifted flat events follow p_ref exactly;
/// events of density R(p) lift to p_ref(q) R(phi(q)).
at::Tensor lift_to_qspace(const at::Tensor& p, const LiftOptions& lift, at::Generator& gen);

/// Flat (uniform) massless phase space: phi(q) with q ~ p_ref, drawn without materialising q.
/// Returns [batch, particles, 4] float64 on the generator's device.
at::Tensor sample_uniform_phase_space(std::int64_t batch, std::int64_t particles, double sqrt_s,
                                      at::Generator& gen);

/// The decoded event's invariants of q-space states, exact functions of q that do not change along
/// the fibre (a boost and a rescaling of the state): y_ij = s_ij / s = 2 q_i.q_j / Q^2 and
/// x_i = 2 E_i / sqrt_s = 2 q_i.Q / Q^2, with each q_i read as (|q_i|, q_i) and Q = sum_i q_i.
/// q_i.q_j is formed as |q_i| |q_j| |q_hat_i - q_hat_j|^2 / 2 and Q^2 as the sum of those, so no
/// step cancels: y keeps full relative precision at small angles and small energies. Computed in
/// q's floating type, differentiable in q (away from q_i = 0).
struct StateInvariants {
  at::Tensor y;  ///< [batch, N, N], symmetric, zero diagonal
  at::Tensor x;  ///< [batch, N]
};
StateInvariants state_invariants(const at::Tensor& q);

/// The floor below which log features of invariants are clamped (y_ij, x_i < 1e-12 read as 1e-12).
inline constexpr double kInvariantFloor = 1e-12;
/// Network features of states q [batch, N, 3]: per particle i, ln(x_i) / 10 and then ln(y_ij) / 10
/// for j != i in increasing j, each clamped at kInvariantFloor -> [batch, N, N], float64.
at::Tensor log_invariant_features(const at::Tensor& q);

/// log of the flat phase-space volume Phi_N(s) = (pi/2)^(N-1) s^(N-2) / ((N-1)! (N-2)!),
/// without (2 pi) factors; finite for every N >= 2 (the volume itself underflows near N = 105).
double log_phase_space_volume(std::int64_t particles, double sqrt_s);

/// exp(log_phase_space_volume(particles, sqrt_s)).
double phase_space_volume(std::int64_t particles, double sqrt_s);

}  // namespace phasegen
