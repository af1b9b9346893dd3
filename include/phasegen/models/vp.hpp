// Variance-preserving diffusion with a closed-form kernel: X_t = alpha(t) X_0 + sigma(t) eps,
// alpha^2 + sigma^2 = 1, t in [0, 1]. A network predicts eps (denoising score matching: no forward
// cache, no double backpropagation); four samplers run from X_1 ~ N(0, I) to t = 0.
//
//   phasegen::VpOptions opts;                              // linear schedule, DPM-Solver++(2M), 20 NFE
//   phasegen::VpDiffusion vp(opts);
//   at::Tensor loss = vp.loss(*net, z0, gen);              // z0: encoded data [batch, N, 3]
//   at::Tensor z = vp.sample(*net, 10000, 3, gen);         // [10000, 3, 3] float64
//
// In the Gaussianised z-space (space.hpp) N(0, I) is exactly the RAMBO prior, so the noise end is
// uniform phase space and every state of every sampler decodes to an exact event. The same engine
// with the paper's discrete schedule on P/x is the paper's p-space DDPM baseline.
//
// Samplers, on a time grid 1 = t_0 > t_1 > ... > t_S = 0 (the last step lands on the denoised
// estimate x0 = (x - sigma eps) / alpha):
//   ddpm     ancestral: x_s ~ q(x_s | x_t, x0), the Gaussian posterior of the kernel (S NFE);
//   ddim     deterministic: x_s = alpha_s x0 + sigma_s eps (S NFE);
//   heun     Heun's method on the probability-flow ODE in y = x / alpha against kappa = sigma / alpha,
//            where dy/dkappa = eps exactly; the last step is Euler (2S - 1 NFE);
//   dpmpp2m  DPM-Solver++(2M), Lu et al. 2022: second-order multistep in log-SNR on x0 (S NFE).
//
// The physics and its formulas: docs/PHYSICS.md.
#pragma once

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "phasegen/core/names.hpp"
#include "phasegen/models/nn.hpp"

namespace phasegen {

enum class VpSampler { kDdpm, kDdim, kHeun, kDpmSolver2M };
inline constexpr NameTable<VpSampler, 4> kVpSamplerNames{"sampler",
                                                         "sampler",
                                                         {{{VpSampler::kDdpm, "ddpm"},
                                                           {VpSampler::kDdim, "ddim"},
                                                           {VpSampler::kHeun, "heun"},
                                                           {VpSampler::kDpmSolver2M, "dpmpp2m"}}}};
/// linear: beta(t) = 0.1 + 19.9 t; paper: the paper's discrete p-space DDPM schedule (see VpSchedule).
enum class VpScheduleKind { kLinear, kPaper };
inline constexpr NameTable<VpScheduleKind, 2> kVpScheduleNames{
    "schedule", "VP schedule", {{{VpScheduleKind::kLinear, "linear"}, {VpScheduleKind::kPaper, "paper"}}}};
/// The sampler's time grid: t uniform, or log(alpha / sigma) uniform down to t = 1e-3.
enum class VpGrid { kTime, kLogSnr };
inline constexpr NameTable<VpGrid, 2> kVpGridNames{"grid", nullptr, {{{VpGrid::kTime, "time"}, {VpGrid::kLogSnr, "logsnr"}}}};
/// "ddpm", "ddim", "heun" or "dpmpp2m"; throws phasegen::Error for any other name.
VpSampler vp_sampler_from_name(const std::string& name);
const char* vp_sampler_name(VpSampler sampler);
/// Network evaluations of `steps` steps: steps, or 2 steps - 1 for Heun.
std::int64_t vp_evaluations(VpSampler sampler, std::int64_t steps);
/// The most steps that fit `nfe` evaluations; throws if not even one does.
std::int64_t vp_steps_for_budget(VpSampler sampler, std::int64_t nfe);

/// alpha(t)^2 on t in [0, 1], decreasing from 1.
class VpSchedule {
 public:
  /// beta(t) = 0.1 + 19.9 t: log alpha^2 = -(0.1 t + 9.95 t^2); alpha(1)^2 = 4.3e-5.
  static VpSchedule linear();
  /// The paper's p-space DDPM: T = 500 steps of beta_k = 2 gamma_k (gamma of the paper's Langevin
  /// schedule, 0.002 -> 0.01) at t = k/T, log alpha^2 linear in between; alpha(1)^2 = 2.4e-3.
  static VpSchedule paper();
  static VpSchedule of(VpScheduleKind kind);
  /// "linear" or "paper".
  static VpSchedule from_name(const std::string& name);

  const std::string& name() const { return name_; }
  /// T of a discrete schedule (training draws t from k/T, k = 1..T), 0 for a continuous one.
  std::int64_t discrete_steps() const { return static_cast<std::int64_t>(log_alpha2_table_.size()) - 1; }
  double log_alpha2(double t) const;
  double alpha(double t) const;
  double sigma(double t) const;
  /// log(alpha / sigma); +infinity at t = 0.
  double log_snr(double t) const;
  /// The t with log_snr(t) = lambda (bisection).
  double time_of_log_snr(double lambda) const;
  /// Training times [batch] and their log alpha^2, float64: U(1e-4, 1), or k/T for a discrete schedule.
  std::pair<at::Tensor, at::Tensor> sample_times(std::int64_t batch, at::Generator& gen) const;
  std::string description() const;

 private:
  VpSchedule(std::string name, std::vector<double> log_alpha2_table);
  std::string name_;
  std::vector<double> log_alpha2_table_;  // at k/T for a discrete schedule; empty for linear
  at::Tensor log_alpha2_tensor_;          // the same, float64, for training-time lookups
};

struct VpOptions {
  /// Throws phasegen::Error when the NFE budget fits no step of the sampler.
  void validate() const;
  std::string description() const;

  TORCH_ARG(VpScheduleKind, schedule) = VpScheduleKind::kLinear;
  TORCH_ARG(VpSampler, sampler) = VpSampler::kDpmSolver2M;
  TORCH_ARG(std::int64_t, nfe) = 20;  ///< network evaluations per event
  TORCH_ARG(VpGrid, grid) = VpGrid::kLogSnr;
};

class VpDiffusion {
 public:
  explicit VpDiffusion(VpOptions options);

  const VpOptions& options() const { return options_; }
  const VpSchedule& schedule() const { return schedule_; }
  VpSampler sampler() const { return sampler_; }
  /// Sampler steps S (from the NFE budget) and the evaluations they use.
  std::int64_t steps() const { return steps_; }
  std::int64_t evaluations() const { return vp_evaluations(sampler_, steps_); }
  /// Features of the state given to the network beside it (see QNetworkImpl::forward_with).
  void set_features(InputFeatures features) { features_ = std::move(features); }

  /// t_0 = 1 > ... > t_S = 0.
  std::vector<double> time_grid() const;

  /// Mean over the batch of |eps_theta(X_t, t) - eps|^2 with X_t = alpha X_0 + sigma eps.
  /// x0: encoded data [batch, N, 3] float32.
  at::Tensor loss(QNetworkImpl& net, const at::Tensor& x0, at::Generator& gen) const;

  /// eps as a function of the state (float64) and t.
  using EpsilonModel = std::function<at::Tensor(const at::Tensor& x, double t)>;
  /// Called with (step 0..S, t, state) for X_1 and after every step.
  using StateCallback = std::function<void(std::int64_t step, double t, const at::Tensor& x)>;

  /// Runs the sampler from the state x (at t = 1) with any eps model; returns X_0 (float64).
  at::Tensor run(const EpsilonModel& eps, at::Tensor x, at::Generator& gen, const StateCallback& on_state = {}) const;
  /// Draws X_1 ~ N(0, I) [batch, particles, 3] and runs the sampler with the network.
  at::Tensor sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                    const StateCallback& on_state = {}) const;

 private:
  VpOptions options_;
  VpSchedule schedule_;
  VpSampler sampler_;
  std::int64_t steps_;
  InputFeatures features_;
};

}  // namespace phasegen
