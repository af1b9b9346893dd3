// The paper's model: overdamped Langevin diffusion in q-space toward the RAMBO prior, trained by
// implicit score matching and sampled by Euler-Maruyama in reverse.
//
//   phasegen::DiffusionOptions opts;                        // paper schedule, regularised f
//   phasegen::LangevinDiffusion diffusion(opts);
//   at::Tensor loss = diffusion.loss(*net, q0, gen);        // q0: lifted data [batch, N, 3]
//   at::Tensor q = diffusion.sample(*net, 10000, 3, gen);   // [10000, 3, 3]; rambo_map(q) is an event
//
// Steps are numbered t = 1..T: Q_t = Q_{t-1} + gamma_t f(Q_{t-1}) + sqrt(2 gamma_t) Z, with f the
// reference score and sigma_t^2 = 2 sum_{s <= t} gamma_s. Every state Q_t maps to an exact event.
//
// The physics and its formulas: docs/PHYSICS.md.
#pragma once

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "phasegen/core/names.hpp"
#include "phasegen/models/nn.hpp"

namespace phasegen {

enum class LangevinSchedule { kPaper, kExtended };
inline constexpr NameTable<LangevinSchedule, 2> kLangevinScheduleNames{
    "schedule", "schedule", {{{LangevinSchedule::kPaper, "paper"}, {LangevinSchedule::kExtended, "extended"}}}};

/// gamma_1..gamma_T of the discrete forward process.
class NoiseSchedule {
 public:
  /// The paper's: T = 500, gamma linear from 0.002 to 0.01 (total time 3).
  static NoiseSchedule paper();
  /// The later one: 137 geometric steps 5e-8 * 1.08^k, then 1000 linear 0.002 -> 0.02 (T = 1137,
  /// total time 11).
  static NoiseSchedule extended();
  static NoiseSchedule of(LangevinSchedule schedule);
  /// "paper" or "extended"; throws for any other name.
  static NoiseSchedule from_name(const std::string& name);

  const std::string& name() const { return name_; }
  std::int64_t steps() const { return static_cast<std::int64_t>(gamma_.size()) - 1; }
  double gamma(std::int64_t t) const { return gamma_.at(t); }    ///< t in 1..T
  double sigma2(std::int64_t t) const { return sigma2_.at(t); }  ///< t in 0..T
  /// Per-step values as tensors indexed by t = 0..T (entry 0 is 0).
  at::Tensor gammas() const;
  at::Tensor sigma2s() const;
  std::string description() const;

 private:
  NoiseSchedule(std::string name, std::vector<double> gammas);
  std::string name_;
  std::vector<double> gamma_;
  std::vector<double> sigma2_;
};

/// The drift f of the forward process: the exact score of p_ref, or f_eps, regular at q = 0.
enum class ReferenceScore { kExact, kRegularised };
inline constexpr NameTable<ReferenceScore, 2> kReferenceScoreNames{
    "reference_score", nullptr, {{{ReferenceScore::kExact, "exact"}, {ReferenceScore::kRegularised, "regularised"}}}};
/// What the network outputs: the score s, or sigma_t s.
enum class ScoreParametrisation { kScore, kScoreOverSigma };
inline constexpr NameTable<ScoreParametrisation, 2> kScoreParametrisationNames{
    "parametrisation",
    nullptr,
    {{{ScoreParametrisation::kScore, "score"}, {ScoreParametrisation::kScoreOverSigma, "score_over_sigma"}}}};
/// The loss weight w(t): the paper's 1 - t/T + 0.01, or sigma_t^2.
enum class LossWeighting { kPaper, kSigma2 };
inline constexpr NameTable<LossWeighting, 2> kLossWeightingNames{
    "weighting", nullptr, {{{LossWeighting::kPaper, "paper"}, {LossWeighting::kSigma2, "sigma2"}}}};
/// The divergence in the implicit score-matching loss: exact, or Hutchinson's with Rademacher probes.
enum class DivergenceEstimate { kExact, kHutchinson };
inline constexpr NameTable<DivergenceEstimate, 2> kDivergenceEstimateNames{
    "divergence", nullptr, {{{DivergenceEstimate::kExact, "exact"}, {DivergenceEstimate::kHutchinson, "hutchinson"}}}};
/// The noise of the em sampler's steps: the paper's 2 gamma_t, or the posterior's (a noiseless last step).
enum class SamplerVariance { kPaper, kPosterior };
inline constexpr NameTable<SamplerVariance, 2> kSamplerVarianceNames{
    "variance", nullptr, {{{SamplerVariance::kPaper, "paper"}, {SamplerVariance::kPosterior, "posterior"}}}};
/// em: Euler-Maruyama on the reverse SDE (the paper's); heun: Heun's method on the probability-flow
/// ODE dQ/dtau = f(Q) - s(Q, tau), deterministic.
enum class LangevinSampler { kEulerMaruyama, kHeun };
inline constexpr NameTable<LangevinSampler, 2> kLangevinSamplerNames{
    "sampler", nullptr, {{{LangevinSampler::kEulerMaruyama, "em"}, {LangevinSampler::kHeun, "heun"}}},
    "em or heun for a Langevin model"};

struct DiffusionOptions {
  void validate() const;
  std::string description() const;

  TORCH_ARG(LangevinSchedule, schedule) = LangevinSchedule::kPaper;
  TORCH_ARG(ReferenceScore, reference_score) = ReferenceScore::kRegularised;
  TORCH_ARG(double, epsilon) = 0.2;  ///< eps of the regularised score
  TORCH_ARG(ScoreParametrisation, parametrisation) = ScoreParametrisation::kScore;
  TORCH_ARG(LossWeighting, weighting) = LossWeighting::kPaper;
  TORCH_ARG(DivergenceEstimate, divergence) = DivergenceEstimate::kExact;
  TORCH_ARG(SamplerVariance, variance) = SamplerVariance::kPosterior;
  TORCH_ARG(LangevinSampler, sampler) = LangevinSampler::kEulerMaruyama;
  /// Network evaluations per event; 0: the schedule's T (em only). em with fewer than T takes
  /// merged steps (gamma summed over a stride); heun takes (nfe + 1) / 2 steps, the last one Euler.
  TORCH_ARG(std::int64_t, nfe) = 0;
};

/// sum_k d output_k / d input_k per example, by one backward pass per coordinate, keeping the
/// graph for the parameter gradient. output, input [batch, ...] of one size per example -> [batch].
at::Tensor exact_divergence(const at::Tensor& output, const at::Tensor& input);

/// Hutchinson's estimate v . d(output . v)/d input with Rademacher v (one backward pass).
at::Tensor hutchinson_divergence(const at::Tensor& output, const at::Tensor& input, at::Generator& gen);

class LangevinDiffusion {
 public:
  explicit LangevinDiffusion(DiffusionOptions options);

  const DiffusionOptions& options() const { return options_; }
  const NoiseSchedule& schedule() const { return schedule_; }

  /// The reference score f of the options. q [batch, N, 3] -> [batch, N, 3].
  at::Tensor reference_score(const at::Tensor& q) const;

  /// Steps t [batch] on 1..T with probability proportional to (1 - t/T + 0.01)^2 (int64).
  at::Tensor sample_times(std::int64_t batch, at::Generator& gen) const;

  /// Q_t from Q_0 = q0 for per-example steps t [batch] (0..T), simulated on the fly: the examples are
  /// sorted by t and only those still running take each step, so memory stays O(batch).
  at::Tensor forward_to(const at::Tensor& q0, const at::Tensor& t, at::Generator& gen) const;

  /// The model's score at q for steps t [batch] (int64), through the parametrisation.
  at::Tensor score(QNetworkImpl& net, const at::Tensor& q, const at::Tensor& t) const;

  /// The score at q for steps t and its divergence in q [batch], by the options' estimate: exact
  /// (for the MLP in one batched pass, MlpNetworkImpl::forward_and_divergence; otherwise 3N backward
  /// passes) or Hutchinson's with Rademacher probes drawn from `gen`.
  std::pair<at::Tensor, at::Tensor> score_and_divergence(QNetworkImpl& net, const at::Tensor& q, const at::Tensor& t,
                                                         at::Generator& gen) const;

  /// Implicit score matching: mean over the batch of w(t) (|s|^2 / 2 + div_Q s) at Q_t.
  at::Tensor loss(QNetworkImpl& net, const at::Tensor& q0, at::Generator& gen) const;

  /// Called with (t, Q_t) along the reverse path.
  using StateCallback = std::function<void(std::int64_t t, const at::Tensor& q)>;

  /// The number of sampler steps and of network evaluations per event.
  std::int64_t sampler_steps() const { return static_cast<std::int64_t>(grid_.size()) - 1; }
  std::int64_t evaluations() const;
  /// The step indices t_0 = T > t_1 > ... > t_S = 0 the sampler visits (continuous for heun).
  const std::vector<double>& time_grid() const { return grid_; }
  /// Total forward time tau(t) = sum_{s <= t} gamma_s, linear between integer t.
  double tau(double t) const;

  /// From Q_T ~ p_ref down to Q_0 with the options' sampler: [batch, particles, 3] float32. With
  /// `every` > 0, `on_state` sees Q_T, every state whose sampler step is a multiple of `every`, and
  /// Q_0; it is called with the (rounded) step index t.
  at::Tensor sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                    std::int64_t every = 0, const StateCallback& on_state = {}) const;

  /// A score model s(Q, t) for a (possibly fractional) step index t.
  using ScoreFunction = std::function<at::Tensor(const at::Tensor& q, double t)>;
  /// The sampler from the given Q_T (any shape [batch, N, 3], any float type) with the given score.
  at::Tensor run(const ScoreFunction& score, at::Tensor q, at::Generator& gen, std::int64_t every = 0,
                 const StateCallback& on_state = {}) const;

 private:
  DiffusionOptions options_;
  NoiseSchedule schedule_;
  at::Tensor gammas_;   // [T + 1] float32
  at::Tensor sigma2s_;  // [T + 1] float32
  std::vector<double> grid_;

  at::Tensor score_at(QNetworkImpl& net, const at::Tensor& q, double t) const;
  /// The network's time input t / T for integer steps t [batch], in the state's precision.
  at::Tensor network_time(const at::Tensor& q, const at::Tensor& t) const;
  /// sigma_t [batch] for integer steps t, on the state's device.
  at::Tensor sigma_at(const at::Tensor& q, const at::Tensor& t) const;
};

}  // namespace phasegen
