// The paper's data sets, generated exactly: flat phase space, muon decay, e+e- -> q qbar g and
// the many-particle antenna (APS) events.
//
//   phasegen::TargetSpec spec;
//   spec.kind = phasegen::TargetKind::kQqg;
//   spec.msq = 1e-3;                                   // every s_ij / s >= 1e-3
//   phasegen::EventGenerator generator(spec);
//   at::Tensor p = generator.generate(100000, gen);    // [100000, 3, 4], (q, qbar, g)
//   std::cout << generator.stats().efficiency() << ' ' << generator.stats().integral() << '\n';
//
// Events are [n, N, 4] float64 (E, px, py, pz) in the CM frame with total energy sqrt_s (GeV),
// every one exactly massless and conserving to round-off.
//
// The physics and its formulas: docs/PHYSICS.md.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "phasegen/io/card.hpp"

namespace phasegen {

enum class TargetKind { kUniform, kMuon, kQqg, kAps };

/// "uniform", "muon", "qqg" or "aps".
const char* target_name(TargetKind kind);

/// The kind named `name`; throws phasegen::Error listing the valid names otherwise.
TargetKind target_from_name(const std::string& name);

/// What to generate. Only the fields of the chosen kind matter; validate() checks them.
struct TargetSpec {
  TargetKind kind = TargetKind::kUniform;
  double sqrt_s = 1.0;           ///< total energy, GeV
  std::int64_t particles = 3;    ///< N for uniform (>= 2) and aps (>= 3); muon and qqg have 3
  double msq = 1e-3;             ///< qqg: every s_ij / s >= msq, 0 < msq < 1/3
  bool symmetrize = false;       ///< qqg: shuffle the particle order of every event
  double xi_max = 30.0;          ///< aps: antenna variables in [1/xi_max, xi_max], xi_max > 1
  bool shuffle = true;           ///< aps: random permutation of the particles (the paper's sets)

  /// The [data] table of a run card: the target's keys (target, sqrt_s, particles, msq,
  /// symmetrize, xi_max, shuffle, in) and the data set's (events, seed, out, test_events,
  /// test_seed, test_out).
  static CardSection schema();
  /// The target a [data] table names (its other keys are the data set's); checked.
  static TargetSpec from_table(const CardSection& table);

  void validate() const;
  std::int64_t n_particles() const;
  /// PDG ids in event order: muon (e-, nu_mu, nubar_e), qqg (d, dbar, g), else photons; a
  /// shuffled target reports its ids before shuffling.
  std::vector<int> pdg_ids() const;
  std::string description() const;
};

/// Bookkeeping of a generator: how many proposals were made and accepted, and the Monte-Carlo
/// estimate of the integral of the weight over the phase space (muon and qqg).
struct GenerationStats {
  std::int64_t proposed = 0;
  std::int64_t accepted = 0;
  double weight_sum = 0.0;     ///< sum over proposals of the integrand estimator
  double weight_sq_sum = 0.0;  ///< sum of its squares
  bool has_integral = false;
  std::string integral_unit;   ///< what the integral is, in words

  double efficiency() const;
  double integral() const;        ///< weight_sum / proposed
  double integral_error() const;  ///< standard error of integral()
};

/// Events per call of EventGenerator::generate when phasegen makes a data set (the command line's
/// `data`, Python's targets): fixed, so that a set depends only on its target, size and seed.
inline constexpr std::int64_t kGenerateChunk = 100000;

/// Draws events of one target; owns its statistics.
class EventGenerator {
 public:
  explicit EventGenerator(TargetSpec spec);
  /// Exactly `events` events [events, N, 4] float64 on the CPU.
  at::Tensor generate(std::int64_t events, at::Generator& gen);
  const TargetSpec& spec() const { return spec_; }
  const GenerationStats& stats() const { return stats_; }

 private:
  // Draws `proposals` candidates, updates the statistics and returns the accepted events.
  at::Tensor propose(std::int64_t proposals, at::Generator& gen);
  TargetSpec spec_;
  GenerationStats stats_;
};

/// Muon-decay weight E3 (p1.p2), GeV^3 (max s^(3/2) / 16). [n, 3, 4] -> [n].
at::Tensor muon_weight(const at::Tensor& p);

/// The q qbar g matrix-element factor (x1^2 + x2^2) / ((1 - x1)(1 - x2)), x_i = 2 E_i / sqrt_s.
at::Tensor qqg_weight(const at::Tensor& p, double sqrt_s);

/// The target's density relative to flat phase space, F(p) >= 0 for events [n, N, 4] (the target's N
/// and sqrt_s): uniform 1; muon E3 (p1.p2), GeV^3; qqg ((1 - y1)^2 + (1 - y2)^2) / (y1 y2) with
/// y1 = s23/s, y2 = s13/s (x_i = 1 - y_i; the pair invariants formed without cancellation) where
/// every s_ij/s >= msq and 0 elsewhere, averaged over the 6 particle orders when symmetrize is set.
/// Events drawn from flat phase space and weighed by F are distributed as the target, and
/// Phi_N E_flat[F] is target_integral(). APS has no closed form: throws phasegen::Error. -> [n] float64.
at::Tensor target_density(const TargetSpec& spec, const at::Tensor& events);
/// The unit of target_density: "GeV^3" for muon, "" (dimensionless) otherwise.
std::string target_density_unit(const TargetSpec& spec);
/// The exact integral of target_density over phase space, in GeV^(2N - 4) times its unit: uniform
/// Phi_N; muon pi^2 sqrt_s^5 / 192; qqg (pi^2 s / 4) times its integral over the cut Dalitz plane in
/// (y1, y2), done in closed form in y2 and by Simpson's rule in log y1 (relative error below 1e-9).
/// Throws phasegen::Error for APS.
double target_integral(const TargetSpec& spec);

/// Antenna variables of massless emission k off the massless pair (a, b): xi_a = (p_a.k)/(p_a.p_b) and
/// xi_b = (p_b.k)/(p_a.p_b), invariant under the RAMBO map. Each argument [n, 4] -> [n, 2].
at::Tensor antenna_variables(const at::Tensor& pa, const at::Tensor& pb, const at::Tensor& k);

/// The APS q-space chain before the RAMBO map: q_1 isotropic with |q_1| = 1/2, q_N = -q_1, and
/// q_i the antenna emission off (q_{i-1}, q_N). Returns massless 4-vectors [n, N, 4].
at::Tensor aps_chain(std::int64_t events, std::int64_t particles, double xi_max, at::Generator& gen);

}  // namespace phasegen
