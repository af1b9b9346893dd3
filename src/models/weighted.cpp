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

TargetSpec resolve_target(const TargetRequest& request, const Model& model, const std::string& what,
                          const std::function<std::string(const std::string&)>& name_of) {
  PHASEGEN_CHECK(std::isfinite(request.sqrt_s) && request.sqrt_s >= 0, name_of("sqrt_s"),
                 ": expected a positive energy, but got ", request.sqrt_s);
  PHASEGEN_CHECK(request.msq >= 0, name_of("msq"), ": expected a cut 0 < msq < 1/3, but got ", request.msq);
  PHASEGEN_CHECK(request.particles >= 0, name_of("particles"), ": expected N >= 2, but got ", request.particles);
  TargetSpec spec;
  spec.kind = target_from_name(request.target);
  spec.sqrt_s = request.sqrt_s > 0 ? request.sqrt_s : model.sqrt_s();
  spec.particles = request.particles > 0 ? request.particles : model.particles();
  spec.symmetrize = request.symmetrize;
  PHASEGEN_CHECK(spec.kind != TargetKind::kAps, what,
                 " aps: the APS sets have no closed-form density relative to flat phase space to weigh events by");
  if (spec.kind == TargetKind::kQqg) {
    PHASEGEN_CHECK(request.msq > 0 || model.support_cut() > 0, name_of("msq"),
                   ": the q qbar g target needs its cut on s_ij/s (the model has none to default to)");
    spec.msq = request.msq > 0 ? request.msq : model.support_cut();
  }
  spec.validate();
  PHASEGEN_CHECK(spec.n_particles() == model.particles(), what, " ", request.target, ": N = ", spec.n_particles(),
                 ", but the checkpoint's model makes N = ", model.particles(), " events");
  PHASEGEN_CHECK(std::abs(spec.sqrt_s - model.sqrt_s()) <= 1e-12 * model.sqrt_s(), name_of("sqrt_s"), " ",
                 spec.sqrt_s, " GeV: the checkpoint's model makes events at sqrt_s = ", model.sqrt_s(), " GeV");
  const double support = model.support_cut();
  if (support > 0) {
    PHASEGEN_CHECK(spec.kind == TargetKind::kQqg && spec.msq >= support * (1 - 1e-12), what, " ", request.target,
                   spec.kind == TargetKind::kQqg ? detail::concat(" ", name_of("msq"), " ", spec.msq) : std::string(),
                   ": the target has weight below s_ij/s = ", support, ", where the model (prior = dalitz, cut ", support,
                   ") makes no events; its weights would miss that part");
  }
  return spec;
}

std::string target_integral_unit(const TargetSpec& spec) {
  const std::int64_t power = 2 * spec.n_particles() - 4 + (spec.kind == TargetKind::kMuon ? 3 : 0);
  return power == 0 ? std::string() : power == 1 ? std::string("GeV") : detail::concat("GeV^", power);
}

}  // namespace phasegen
