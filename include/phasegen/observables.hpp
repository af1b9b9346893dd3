// Observables of massless events and the round-off checks of exact conservation.
//
//   at::Tensor p = phasegen::sample_uniform_phase_space(1000, 3, 1.0, gen);  // [1000, 3, 4]
//   at::Tensor e = phasegen::energies(p);                      // [1000, 3]
//   at::Tensor tau = phasegen::min_pair_dot(p);                // [1000]
//   double worst = phasegen::conservation_violation(p, 1.0).max().item<double>();  // ~1e-16
//
// Events are [batch, N, 4] with components (E, px, py, pz) in the unit of sqrt_s.
#pragma once

#include <ATen/ATen.h>

namespace phasegen {

/// Particle energies E_i in event order. [batch, N, 4] -> [batch, N].
at::Tensor energies(const at::Tensor& p);

/// Energies sorted in decreasing order per event. [batch, N, 4] -> [batch, N].
at::Tensor sorted_energies(const at::Tensor& p);

/// Minkowski products p_i.p_j = E_i E_j - p_i.p_j for every pair. [batch, N, 4] -> [batch, N, N].
at::Tensor pair_dots(const at::Tensor& p);

/// tau = min over i != j of p_i.p_j, the distance to the nearest collinear singularity. -> [batch].
at::Tensor min_pair_dot(const at::Tensor& p);

/// max(|sum E - sqrt_s|, |sum px|, |sum py|, |sum pz|) / sqrt_s per event. -> [batch].
at::Tensor conservation_violation(const at::Tensor& p, double sqrt_s);

/// max_i |E_i - |p_i|| / sqrt_s per event: the departure from masslessness on the scale of
/// the event (an exactly massless particle has E = |p|). -> [batch].
at::Tensor mass_violation(const at::Tensor& p, double sqrt_s);

}  // namespace phasegen
