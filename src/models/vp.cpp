#include "phasegen/models/vp.hpp"

#include <algorithm>
#include <cmath>

#include "phasegen/models/diffusion.hpp"
#include "phasegen/core/error.hpp"

namespace phasegen {

VpSampler vp_sampler_from_name(const std::string& name) { return kVpSamplerNames.parse(name); }

const char* vp_sampler_name(VpSampler sampler) { return kVpSamplerNames.name(sampler); }

std::int64_t vp_evaluations(VpSampler sampler, std::int64_t steps) {
  return sampler == VpSampler::kHeun ? 2 * steps - 1 : steps;
}

std::int64_t vp_steps_for_budget(VpSampler sampler, std::int64_t nfe) {
  PHASEGEN_CHECK(nfe >= 1, "nfe: expected at least 1 network evaluation, but got ", nfe);
  return sampler == VpSampler::kHeun ? (nfe + 1) / 2 : nfe;
}

VpSchedule::VpSchedule(std::string name, std::vector<double> log_alpha2_table)
    : name_(std::move(name)),
      log_alpha2_table_(std::move(log_alpha2_table)),
      log_alpha2_tensor_(at::tensor(log_alpha2_table_, at::kDouble)) {}

VpSchedule VpSchedule::linear() { return VpSchedule("linear", {}); }

VpSchedule VpSchedule::paper() {
  const NoiseSchedule langevin = NoiseSchedule::paper();
  std::vector<double> table(static_cast<std::size_t>(langevin.steps()) + 1, 0.0);
  for (std::int64_t k = 1; k <= langevin.steps(); ++k) table[k] = table[k - 1] + std::log1p(-2.0 * langevin.gamma(k));
  return VpSchedule("paper", std::move(table));
}

VpSchedule VpSchedule::of(VpScheduleKind kind) { return kind == VpScheduleKind::kPaper ? paper() : linear(); }

VpSchedule VpSchedule::from_name(const std::string& name) { return of(kVpScheduleNames.parse(name)); }

double VpSchedule::log_alpha2(double t) const {
  if (log_alpha2_table_.empty()) return -(0.1 * t + 9.95 * t * t);
  const auto steps = discrete_steps();
  const double u = std::clamp(t, 0.0, 1.0) * static_cast<double>(steps);
  const auto k = std::min(static_cast<std::int64_t>(u), steps - 1);
  const double frac = u - static_cast<double>(k);
  return (1.0 - frac) * log_alpha2_table_[k] + frac * log_alpha2_table_[k + 1];
}

double VpSchedule::alpha(double t) const { return std::exp(0.5 * log_alpha2(t)); }
double VpSchedule::sigma(double t) const { return std::sqrt(-std::expm1(log_alpha2(t))); }

double VpSchedule::log_snr(double t) const {
  const double la2 = log_alpha2(t);
  return 0.5 * (la2 - std::log(-std::expm1(la2)));
}

double VpSchedule::time_of_log_snr(double lambda) const {
  double lo = 0.0, hi = 1.0;  // log_snr falls with t
  for (int i = 0; i < 200 && hi - lo > 1e-15; ++i) {
    const double mid = 0.5 * (lo + hi);
    (log_snr(mid) > lambda ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

std::pair<at::Tensor, at::Tensor> VpSchedule::sample_times(std::int64_t batch, at::Generator& gen) const {
  const auto options = at::TensorOptions().dtype(at::kDouble).device(gen.device());
  if (log_alpha2_table_.empty()) {
    at::Tensor t = 1e-4 + (1.0 - 1e-4) * at::rand({batch}, gen, options);
    return {t, -(0.1 * t + 9.95 * t * t)};
  }
  const auto steps = discrete_steps();
  at::Tensor k = at::randint(1, steps + 1, {batch}, gen, at::TensorOptions().dtype(at::kLong).device(gen.device()));
  return {k.to(at::kDouble) / static_cast<double>(steps), log_alpha2_tensor_.to(gen.device()).index_select(0, k)};
}

std::string VpSchedule::description() const {
  if (log_alpha2_table_.empty()) return "linear VP schedule (beta 0.1 -> 20)";
  return detail::concat("paper DDPM schedule (T = ", discrete_steps(), ", beta = 2 gamma, 0.004 -> 0.02)");
}

void VpOptions::validate() const { vp_steps_for_budget(sampler_, nfe_); }

std::string VpOptions::description() const {
  return detail::concat(VpSchedule::of(schedule_).description(), ", ", kVpSamplerNames.name(sampler_), " sampler, ",
                        nfe_, " NFE, ", kVpGridNames.name(grid_), " grid");
}

VpDiffusion::VpDiffusion(VpOptions options)
    : options_(std::move(options)),
      schedule_(VpSchedule::of(options_.schedule())),
      sampler_(options_.sampler()),
      steps_(vp_steps_for_budget(sampler_, options_.nfe())) {
  options_.validate();
}

std::vector<double> VpDiffusion::time_grid() const {
  std::vector<double> grid(static_cast<std::size_t>(steps_) + 1, 0.0);
  grid[0] = 1.0;
  if (options_.grid() == VpGrid::kTime) {
    for (std::int64_t k = 1; k < steps_; ++k) grid[k] = 1.0 - static_cast<double>(k) / static_cast<double>(steps_);
  } else if (steps_ > 1) {
    // S - 1 equal log-SNR intervals from t = 1 down to t = 1e-3, then the last step to t = 0.
    const double first = schedule_.log_snr(1.0), last = schedule_.log_snr(1e-3);
    for (std::int64_t k = 1; k < steps_; ++k) {
      grid[k] = schedule_.time_of_log_snr(first + (last - first) * static_cast<double>(k) / static_cast<double>(steps_ - 1));
    }
  }
  return grid;
}

at::Tensor VpDiffusion::loss(QNetworkImpl& net, const at::Tensor& x0, at::Generator& gen) const {
  const std::int64_t batch = x0.size(0);
  auto [t, log_alpha2] = schedule_.sample_times(batch, gen);
  at::Tensor alpha = at::exp(0.5 * log_alpha2).to(x0.scalar_type()).view({-1, 1, 1});
  at::Tensor sigma = at::sqrt(-at::expm1(log_alpha2)).to(x0.scalar_type()).view({-1, 1, 1});
  at::Tensor eps = at::randn(x0.sizes(), gen, x0.options());
  at::Tensor xt = alpha * x0 + sigma * eps;
  return (net.forward_with(xt, t.to(x0.scalar_type()), features_) - eps).pow(2).flatten(1).sum(1).mean();
}

at::Tensor VpDiffusion::run(const EpsilonModel& eps, at::Tensor x, at::Generator& gen,
                            const StateCallback& on_state) const {
  const std::vector<double> grid = time_grid();
  if (on_state) on_state(0, 1.0, x);
  at::Tensor previous_x0;  // DPM-Solver++(2M) history
  double previous_h = 0.0;
  for (std::int64_t i = 0; i < steps_; ++i) {
    const double t = grid[i], s = grid[i + 1];
    const double alpha_t = schedule_.alpha(t), sigma_t = schedule_.sigma(t);
    const double alpha_s = schedule_.alpha(s), sigma_s = schedule_.sigma(s);
    at::Tensor e = eps(x, t);
    at::Tensor x0 = (x - sigma_t * e) / alpha_t;
    const bool last = s == 0.0;
    switch (sampler_) {
      case VpSampler::kDdim:
        x = last ? x0 : alpha_s * x0 + sigma_s * e;
        break;
      case VpSampler::kDdpm: {
        if (last) {
          x = x0;
          break;
        }
        // q(x_s | x_t, x0): sigma_{t|s}^2 = 1 - alpha_t^2 / alpha_s^2, computed without cancellation.
        const double alpha_ts = alpha_t / alpha_s;
        const double var_ts = -std::expm1(schedule_.log_alpha2(t) - schedule_.log_alpha2(s));
        const double st2 = sigma_t * sigma_t, ss2 = sigma_s * sigma_s;
        at::Tensor mean = (alpha_ts * ss2 / st2) * x + (alpha_s * var_ts / st2) * x0;
        x = mean + std::sqrt(var_ts * ss2 / st2) * at::randn(x.sizes(), gen, x.options());
        break;
      }
      case VpSampler::kHeun: {
        const double kappa_t = sigma_t / alpha_t, kappa_s = sigma_s / alpha_s;
        at::Tensor y = x / alpha_t;
        at::Tensor euler = y + (kappa_s - kappa_t) * e;
        if (last) {
          x = euler;
          break;
        }
        at::Tensor e2 = eps(alpha_s * euler, s);
        x = alpha_s * (y + (0.5 * (kappa_s - kappa_t)) * (e + e2));
        break;
      }
      case VpSampler::kDpmSolver2M: {
        if (last) {  // log-SNR step of infinite size: first order, the denoised estimate
          x = x0;
          break;
        }
        const double h = schedule_.log_snr(s) - schedule_.log_snr(t);
        at::Tensor d = x0;
        if (previous_x0.defined()) {
          const double r = previous_h / h;
          d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * previous_x0;
        }
        x = (sigma_s / sigma_t) * x - (alpha_s * std::expm1(-h)) * d;
        previous_x0 = x0;
        previous_h = h;
        break;
      }
    }
    if (on_state) on_state(i + 1, s, x);
  }
  return x;
}

at::Tensor VpDiffusion::sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles, at::Generator& gen,
                               const StateCallback& on_state) const {
  at::NoGradGuard no_grad;
  at::Tensor x = at::randn({batch, particles, 3}, gen, at::TensorOptions().dtype(at::kDouble).device(gen.device()));
  auto eps = [&](const at::Tensor& state, double t) {
    return net.forward_with(state.to(at::kFloat), at::full({1}, t, state.options().dtype(at::kFloat)).expand({state.size(0)}),
                            features_)
        .to(at::kDouble);
  };
  return run(eps, x, gen, on_state);
}

}  // namespace phasegen
