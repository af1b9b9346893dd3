// Observables of massless events and the round-off checks of exact conservation.
//
//   at::Tensor p = phasegen::sample_uniform_phase_space(1000, 3, 1.0, gen);  // [1000, 3, 4]
//   at::Tensor e = phasegen::energies(p);                      // [1000, 3]
//   at::Tensor tau = phasegen::min_pair_dot(p);                // [1000]
//   double worst = phasegen::conservation_violation(p, 1.0).max().item<double>();  // ~1e-16
//
// Events are [batch, N, 4] with components (E, px, py, pz) in the unit of sqrt_s.
//
// The physics and its formulas: docs/PHYSICS.md.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace phasegen {

/// Particle energies E_i in event order. [batch, N, 4] -> [batch, N].
at::Tensor energies(const at::Tensor& p);

/// Energies sorted in decreasing order per event. [batch, N, 4] -> [batch, N].
at::Tensor sorted_energies(const at::Tensor& p);

/// The Dalitz-plot coordinates (E1, E2) of three-body events, GeV. [batch, 3, 4] -> [batch, 2].
at::Tensor dalitz_energies(const at::Tensor& p);

/// Minkowski products p_i.p_j = E_i E_j - p_i.p_j for every pair. [batch, N, 4] -> [batch, N, N].
at::Tensor pair_dots(const at::Tensor& p);

/// tau = min over i != j of p_i.p_j, the distance to the nearest collinear singularity. -> [batch].
at::Tensor min_pair_dot(const at::Tensor& p);

/// Index pairs (i, j), i < j, in the order pair observables use: (0,1), (0,2), ..., (N-2, N-1).
std::vector<std::pair<std::int64_t, std::int64_t>> particle_pairs(std::int64_t particles);

/// Pair invariants s_ij = 2 p_i.p_j for i < j, in particle_pairs order, GeV^2. -> [batch, N(N-1)/2].
at::Tensor pair_invariants(const at::Tensor& p);

/// cos(theta_ij) of the 3-momenta of every pair, in particle_pairs order. -> [batch, N(N-1)/2].
at::Tensor pair_cosines(const at::Tensor& p);

/// log10(tau / s) with tau = min p_i.p_j: how close the event is to a collinear or soft limit. -> [batch].
at::Tensor log10_min_pair_dot(const at::Tensor& p, double sqrt_s);

/// Rosenblatt transform of muon decay: with e_i = E_i / sqrt_s and v = e1 + e2 - 1/2,
/// u1 = 16 e1^3 (1 - e1), u2 = v^2 (3 - 4v) / (e1^2 (3 - 4 e1)). Independent and uniform on
/// [0, 1] exactly when the events follow the muon-decay law. [batch, 3, 4] -> [batch, 2].
at::Tensor muon_rosenblatt(const at::Tensor& p, double sqrt_s);

/// Thrust T = max_n sum |p_i.n| / sum |p_i|: exact (all 2^(N-1) hemispheres) for N <= 12; for
/// larger N the best of iterations n <- sum sign(p_i.n) p_i started from the leading particles,
/// a local maximum. -> [batch].
at::Tensor thrust(const at::Tensor& p);

/// C-parameter 3/2 (1 - tr Theta^2), Theta^ab = sum_i p_i^a p_i^b / |p_i| / sum_i |p_i|. -> [batch].
at::Tensor c_parameter(const at::Tensor& p);

/// A scalar observable with a name, for tables and comparisons.
struct NamedObservable {
  std::string name;  ///< e.g. "E_1", "E_(1)", "s_12/s", "log10(tau/s)", "thrust"
  std::string unit;  ///< "GeV" or "" for dimensionless
  std::function<at::Tensor(const at::Tensor& p, double sqrt_s)> compute;  ///< [batch, N, 4] -> [batch]
};

/// The standard observables for events of N particles: labelled and sorted energies, pair
/// invariants s_ij/s and opening angles (all pairs for small N, extremes otherwise), log10(tau/s),
/// thrust, C-parameter and, for N = 3, the Dalitz energies' Rosenblatt variables u1, u2.
std::vector<NamedObservable> standard_observables(std::int64_t particles);
/// The standard observables for N particles, or only the named ones (an unknown name throws,
/// listing the known ones).
std::vector<NamedObservable> named_observables(std::int64_t particles, const std::vector<std::string>& names);

/// max(|sum E - sqrt_s|, |sum px|, |sum py|, |sum pz|) / sqrt_s per event. -> [batch].
at::Tensor conservation_violation(const at::Tensor& p, double sqrt_s);

/// The paper's conservation metric (its Table I): per event, with E_med the median particle
/// energy, |sum E - sqrt_s| / E_med and |sum p_k| / E_med for k = x, y, z, averaged over the
/// events. [batch, N, 4] -> [4] (E, x, y, z).
at::Tensor table_one_violation(const at::Tensor& p, double sqrt_s);

/// max_i |E_i - |p_i|| / sqrt_s per event: the departure from masslessness on the scale of
/// the event (an exactly massless particle has E = |p|). -> [batch].
at::Tensor mass_violation(const at::Tensor& p, double sqrt_s);

}  // namespace phasegen
