#include "phasegen/eval/weights.hpp"

#include <cmath>

#include "phasegen/core/error.hpp"
#include "phasegen/io/json.hpp"

namespace phasegen {

at::Tensor importance_weights(const at::Tensor& f, const at::Tensor& log_ratio) {
  PHASEGEN_CHECK(f.dim() == 1 && log_ratio.dim() == 1 && f.size(0) == log_ratio.size(0),
                 "importance weights: expected F [n] and log-ratios [n], but got ", f.sizes(), " and ", log_ratio.sizes());
  const at::Tensor w = f.to(at::kDouble) * at::exp(-log_ratio.to(at::kDouble));
  const at::Tensor bad = ~at::isfinite(w) | (w < 0);
  if (bad.any().item<bool>()) {
    const std::int64_t first = bad.nonzero().select(1, 0)[0].item<std::int64_t>();
    throw Error(detail::concat("importance weights: event ", first, " has weight ", w[first].item<double>(), " (F = ",
                               f[first].item<double>(), ", log density ratio ", log_ratio[first].item<double>(),
                               "): expected a finite weight >= 0"));
  }
  return w;
}

WeightSummary summarize_weights(const at::Tensor& w, double volume, const std::vector<double>& fractions) {
  PHASEGEN_CHECK(w.dim() == 1 && w.size(0) >= 2, "weight summary: expected at least 2 weights [n], but got ", w.sizes());
  const at::Tensor v = w.to(at::kDouble).cpu();
  PHASEGEN_CHECK((at::isfinite(v) & (v >= 0)).all().item<bool>(), "weight summary: expected finite weights >= 0");
  WeightSummary s;
  s.events = v.size(0);
  s.zero = (v == 0).sum().item<std::int64_t>();
  s.volume = volume;
  s.mean = v.mean().item<double>();
  s.sd = v.std().item<double>();
  s.max = v.max().item<double>();
  PHASEGEN_CHECK(s.max > 0, "weight summary: every one of the ", s.events, " weights is 0 (no event inside the target)");
  const double n = static_cast<double>(s.events);
  s.integral = volume * s.mean;
  s.error = volume * s.sd / std::sqrt(n);
  s.relative_sd = s.sd / s.mean;
  const double sum = v.sum().item<double>();
  s.ess_fraction = sum * sum / (n * v.pow(2).sum().item<double>());
  s.efficiency = s.mean / s.max;
  const at::Tensor sorted = std::get<0>(v.sort(/*dim=*/0, /*descending=*/true));
  for (const double fraction : fractions) {
    PHASEGEN_CHECK(fraction > 0 && fraction < 1, "weight summary: expected truncation fractions in (0, 1), but got ", fraction);
    WeightTruncation t;
    t.fraction = fraction;
    const auto index = static_cast<std::int64_t>(std::floor(fraction * n));
    t.cap = sorted[std::min(index, s.events - 1)].item<double>();
    if (t.cap > 0) {
      t.efficiency = at::clamp_max(v, t.cap).mean().item<double>() / t.cap;
      t.overweight_share = at::clamp_min(v - t.cap, 0.0).sum().item<double>() / sum;
    }
    s.truncations.push_back(t);
  }
  return s;
}

std::string weight_summary_json(const WeightSummary& s, int indent) {
  std::string truncations = "[";
  for (std::size_t k = 0; k < s.truncations.size(); ++k) {
    const WeightTruncation& t = s.truncations[k];
    truncations += std::string(k ? ", " : "") +
                   json_object({{"fraction", json_number(t.fraction)},
                                {"cap", json_number(t.cap)},
                                {"efficiency", json_number(t.efficiency)},
                                {"overweight_share", json_number(t.overweight_share)}},
                               indent + 2);
  }
  truncations += "]";
  return json_object({{"events", std::to_string(s.events)},
                      {"zero_weight_events", std::to_string(s.zero)},
                      {"integral", json_number(s.integral)},
                      {"error", json_number(s.error)},
                      {"mean_weight", json_number(s.mean)},
                      {"sd_weight", json_number(s.sd)},
                      {"max_weight", json_number(s.max)},
                      {"relative_sd", json_number(s.relative_sd)},
                      {"ess_per_event", json_number(s.ess_fraction)},
                      {"unweighting_efficiency", json_number(s.efficiency)},
                      {"truncated", truncations}},
                     indent);
}

}  // namespace phasegen
