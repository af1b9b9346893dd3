// Importance weights of sampled events against a target, and what they give: the target's integral
// with its Monte-Carlo error, the effective sample size and the unweighting efficiency.
//
//   phasegen::DensityResult r = model.sample_with_density(100000);
//   at::Tensor w = phasegen::importance_weights(phasegen::target_density(spec, r.events), r.log_ratio);
//   phasegen::WeightSummary s = phasegen::summarize_weights(w, phasegen::phase_space_volume(3, 1.0));
//   std::cout << s.integral << " +- " << s.error << ", ESS / n " << s.ess_fraction << '\n';
//
// The physics and its formulas: docs/PHYSICS.md (event weights).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace phasegen {

/// w = F / exp(log_ratio): F [n] the target's density relative to flat phase space at each event,
/// log_ratio [n] the sampler's (DensityResult::log_ratio). Throws phasegen::Error naming the first
/// event whose weight is negative or not finite. -> [n] float64.
at::Tensor importance_weights(const at::Tensor& f, const at::Tensor& log_ratio);

/// Unweighting with the cap lowered to the weight that a fraction of the events exceed.
struct WeightTruncation {
  double fraction = 0.0;        ///< of the events above the cap
  double cap = 0.0;             ///< the weight they exceed
  double efficiency = 0.0;      ///< mean(min(w, cap)) / cap: the share of events kept by accept / reject
  double overweight_share = 0.0;  ///< sum of (w - cap) over the events above it / sum of w: what they carry
                                  ///< beyond the cap (kept as weights w / cap, not lost)
};

/// What the weights of n events say about the sampler and the target.
struct WeightSummary {
  std::int64_t events = 0;  ///< weighed, zeros included
  std::int64_t zero = 0;    ///< of weight 0 (outside the target's support, e.g. below its cut)
  double volume = 0.0;      ///< the phase-space volume the mean is scaled by
  double mean = 0.0, sd = 0.0, max = 0.0;
  double integral = 0.0;     ///< volume mean(w)
  double error = 0.0;        ///< volume sd(w) / sqrt(n), its standard error
  double relative_sd = 0.0;  ///< sd(w) / mean(w)
  double ess_fraction = 0.0;  ///< (sum w)^2 / (n sum w^2): effective sample size over events
  double efficiency = 0.0;    ///< mean(w) / max(w): the unweighting efficiency
  std::vector<WeightTruncation> truncations;
};

/// The summary of weights w [n] (finite, >= 0, not all 0), scaled by `volume`, with a truncation at
/// each of `fractions` (each in (0, 1)).
WeightSummary summarize_weights(const at::Tensor& w, double volume, const std::vector<double>& fractions = {1e-3, 1e-2});

/// The summary as a JSON object (members indented by indent + 2).
std::string weight_summary_json(const WeightSummary& s, int indent);

}  // namespace phasegen
