#include "phasegen/models/weighted.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "phasegen/core/error.hpp"
#include "phasegen/core/random.hpp"

namespace phasegen {

namespace {

// Rounds of draws before a run gives up on reaching its count.
constexpr int kMaxRounds = 1000;

}  // namespace

WeightedSample sample_weighted(const Model& model, std::int64_t events, const TargetDensity& density, double volume,
                               const SampleOptions& options, const WeightedSampleOptions& weighting,
                               const std::function<void(std::int64_t)>& on_progress) {
  PHASEGEN_CHECK(events >= 1, "weighted sampling: expected a positive number of events, but got ", events);
  PHASEGEN_CHECK(std::isfinite(volume) && volume > 0, "weighted sampling: expected a positive volume, but got ", volume);
  PHASEGEN_CHECK(weighting.first_pass() >= 0, "weighted sampling: expected a first pass >= 0 events, but got ",
                 weighting.first_pass());
  const std::string why = model.density_refusal();
  PHASEGEN_CHECK(why.empty(), why);
  WeightedSample out;
  std::vector<at::Tensor> all_weights, kept_events, kept_weights;
  std::int64_t kept = 0;
  auto account = [&](const DensityResult& r) {
    out.nonpositive_events += r.nonpositive_events;
    out.worst_violation = std::max(out.worst_violation, r.worst_violation);
    out.seconds += r.seconds;
  };

  // Unweighting: the largest weight of a first pass.
  double w_max = 0.0;
  if (weighting.unweight()) {
    out.first_pass = weighting.first_pass() > 0 ? weighting.first_pass() : events;
    SampleOptions first = options;
    first.seed(stream_seed(options.seed(), Stream::kUnweightFirstPass, 0));
    const DensityResult r = model.sample_with_density(out.first_pass, first);
    account(r);
    const at::Tensor w = importance_weights(density(r.events), r.log_ratio);
    all_weights.push_back(w);
    out.drawn += out.first_pass;
    w_max = w.max().item<double>();
    PHASEGEN_CHECK(w_max > 0, "unweighting: every one of the ", out.first_pass,
                   " events of the first pass has weight 0: the model makes no events inside the target");
    out.max_weight = w_max;
  }
  // The share of the first pass that accept / reject would keep sizes the first round.
  double keep_rate = weighting.unweight() ? std::max(all_weights.front().mean().item<double>() / w_max, 1e-6) : 1.0;

  // Rounds of draws until `events` are kept: every event of non-zero weight (weighted), or those
  // accepted with probability min(1, w / w_max) (unweighting).
  for (int round = 0; kept < events; ++round) {
    PHASEGEN_CHECK(round < kMaxRounds, "weighted sampling: ", kept, " of ", events, " events kept after ", out.drawn,
                   " draws in ", kMaxRounds, " rounds; the target keeps too few of the model's events");
    const std::int64_t missing = events - kept;
    const std::int64_t n = round == 0 && !weighting.unweight()
                               ? events
                               : static_cast<std::int64_t>(std::ceil(static_cast<double>(missing) / keep_rate * 1.05)) + 16;
    SampleOptions o = options;
    if (round > 0) o.seed(stream_seed(options.seed(), Stream::kWeightedRound, static_cast<std::uint64_t>(round)));
    at::Generator accept_gen = stream_generator(options.seed(), Stream::kUnweightAccept, static_cast<std::uint64_t>(round));
    std::int64_t round_kept = 0;
    const DensityResult r = model.sample_with_density(n, o, [&](const at::Tensor& batch, const at::Tensor& log_ratio,
                                                                const at::Tensor&) {
      const at::Tensor w = importance_weights(density(batch), log_ratio);
      all_weights.push_back(w);
      out.drawn += batch.size(0);
      out.zero += (w == 0).sum().item<std::int64_t>();
      if (kept >= events) return;  // the round's last batches after the count is reached
      at::Tensor keep = w > 0;
      at::Tensor written = w;
      if (weighting.unweight()) {
        keep = at::rand({w.size(0)}, accept_gen, w.options()) * w_max < w;
        written = at::clamp_min(w / w_max, 1.0);
      }
      at::Tensor index = keep.nonzero().select(1, 0);
      std::int64_t offered = batch.size(0);
      if (kept + index.size(0) > events) {
        index = index.narrow(0, 0, events - kept);  // the first ones, in order
        offered = index[-1].item<std::int64_t>() + 1;
      }
      out.trials += offered;
      if (index.size(0) > 0) {
        kept_events.push_back(batch.index_select(0, index));
        kept_weights.push_back(written.index_select(0, index));
        kept += index.size(0);
        round_kept += index.size(0);
      }
      if (on_progress) on_progress(kept);
    });
    account(r);
    if (kept < events) {
      const double rate = static_cast<double>(round_kept) / static_cast<double>(n);
      PHASEGEN_CHECK(round_kept > 0 || round > 0, "weighted sampling: every one of the first ", n,
                     " events has weight 0 (or was rejected): the model makes no events inside the target");
      // A round that kept nothing (after the first) says little: size the next one four times larger.
      keep_rate = rate > 0 ? rate : keep_rate / 4.0;
    }
  }
  out.events = at::cat(kept_events);
  out.weights = at::cat(kept_weights);
  out.summary = summarize_weights(at::cat(all_weights), volume);
  if (weighting.unweight()) {
    out.acceptance = static_cast<double>(events) / static_cast<double>(out.trials);
    out.overweights = (out.weights > 1.0).sum().item<std::int64_t>();
  } else {
    // Scaled so that their mean is the integral: volume x w x (non-zero fraction of the draws).
    const double nonzero = static_cast<double>(out.drawn - out.zero) / static_cast<double>(out.drawn);
    out.weights = out.weights * (volume * nonzero);
  }
  return out;
}

}  // namespace phasegen
