#include "phasegen/models/diffusion.hpp"

#include <torch/csrc/autograd/autograd.h>

#include <cmath>

#include "phasegen/core/error.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen {

NoiseSchedule::NoiseSchedule(std::string name, std::vector<double> gammas) : name_(std::move(name)) {
  gamma_.push_back(0.0);
  gamma_.insert(gamma_.end(), gammas.begin(), gammas.end());
  sigma2_.assign(gamma_.size(), 0.0);
  for (std::size_t t = 1; t < gamma_.size(); ++t) sigma2_[t] = sigma2_[t - 1] + 2.0 * gamma_[t];
}

NoiseSchedule NoiseSchedule::paper() {
  std::vector<double> g(500);
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = 0.002 + (0.01 - 0.002) * static_cast<double>(i) / 499.0;
  return NoiseSchedule("paper", g);
}

NoiseSchedule NoiseSchedule::extended() {
  std::vector<double> g;
  for (int k = 0; k < 137; ++k) g.push_back(5e-8 * std::pow(1.08, k));
  for (int i = 0; i < 1000; ++i) g.push_back(0.002 + (0.02 - 0.002) * i / 999.0);
  return NoiseSchedule("extended", g);
}

NoiseSchedule NoiseSchedule::of(LangevinSchedule schedule) {
  return schedule == LangevinSchedule::kExtended ? extended() : paper();
}

NoiseSchedule NoiseSchedule::from_name(const std::string& name) { return of(kLangevinScheduleNames.parse(name)); }

at::Tensor NoiseSchedule::gammas() const { return at::tensor(gamma_, at::kDouble); }
at::Tensor NoiseSchedule::sigma2s() const { return at::tensor(sigma2_, at::kDouble); }

std::string NoiseSchedule::description() const {
  return detail::concat(name_, " schedule, T = ", steps(), ", total time ", sigma2_.back() / 2.0);
}

void DiffusionOptions::validate() const {
  PHASEGEN_CHECK(epsilon_ > 0, "epsilon: expected eps > 0, but got ", epsilon_);
  const std::int64_t steps = NoiseSchedule::of(schedule_).steps();
  PHASEGEN_CHECK(nfe_ >= 0 && nfe_ <= steps, "nfe: expected 1 to ", steps, " evaluations (the schedule's T), but got ",
                 nfe_);
  PHASEGEN_CHECK(sampler_ == LangevinSampler::kEulerMaruyama || nfe_ >= 1,
                 "nfe: the heun sampler needs a number of evaluations, but got 0");
}

std::string DiffusionOptions::description() const {
  const bool heun = sampler_ == LangevinSampler::kHeun;
  return detail::concat("Langevin diffusion, ", NoiseSchedule::of(schedule_).description(), ", ",
                        kReferenceScoreNames.name(reference_score_), " reference score",
                        reference_score_ == ReferenceScore::kRegularised ? detail::concat(" (eps ", epsilon_, ")") : "",
                        ", ", kScoreParametrisationNames.name(parametrisation_), ", ",
                        kLossWeightingNames.name(weighting_), " weights, ", kDivergenceEstimateNames.name(divergence_),
                        " divergence, ",
                        heun ? std::string("probability-flow ODE (heun")
                             : std::string("Euler-Maruyama (") + kSamplerVarianceNames.name(variance_) + " variance",
                        nfe_ > 0 ? detail::concat(", ", nfe_, " NFE)") : std::string(")"));
}

namespace {

// The sampler's step indices from T down to 0. em: integers, evenly strided (all T of them when
// nfe = T); heun: S + 1 evenly spaced points with 2S - 1 = nfe (the last step is an Euler step).
std::vector<double> sampler_grid(LangevinSampler sampler, std::int64_t nfe, std::int64_t steps) {
  const bool heun = sampler == LangevinSampler::kHeun;
  const std::int64_t n = heun ? (nfe + 2) / 2 : nfe;
  std::vector<double> grid(static_cast<std::size_t>(n) + 1);
  for (std::int64_t k = 0; k <= n; ++k) {
    const double t = static_cast<double>(steps) * static_cast<double>(n - k) / static_cast<double>(n);
    grid[static_cast<std::size_t>(k)] = heun ? t : std::round(t);
  }
  return grid;
}

}  // namespace

at::Tensor exact_divergence(const at::Tensor& output, const at::Tensor& input) {
  at::Tensor flat = output.flatten(1);
  at::Tensor div = at::zeros({output.size(0)}, output.options());
  for (std::int64_t k = 0; k < flat.size(1); ++k) {
    at::Tensor grad = torch::autograd::grad({flat.select(1, k).sum()}, {input}, {}, /*retain_graph=*/true,
                                            /*create_graph=*/true)[0];
    div = div + grad.flatten(1).select(1, k);
  }
  return div;
}

at::Tensor hutchinson_divergence(const at::Tensor& output, const at::Tensor& input, at::Generator& gen) {
  at::Tensor v = at::empty_like(output).bernoulli_(0.5, gen).mul_(2).sub_(1);
  at::Tensor grad = torch::autograd::grad({(output * v).sum()}, {input}, {}, true, true)[0];
  return (grad * v).flatten(1).sum(1);
}

LangevinDiffusion::LangevinDiffusion(DiffusionOptions options)
    : options_(std::move(options)), schedule_(NoiseSchedule::of(options_.schedule())) {
  if (options_.nfe() == 0 && options_.sampler() == LangevinSampler::kEulerMaruyama) options_.nfe(schedule_.steps());
  options_.validate();
  gammas_ = schedule_.gammas().to(at::kFloat);
  sigma2s_ = schedule_.sigma2s().to(at::kFloat);
  grid_ = sampler_grid(options_.sampler(), options_.nfe(), schedule_.steps());
}

std::int64_t LangevinDiffusion::evaluations() const {
  return options_.sampler() == LangevinSampler::kHeun ? 2 * sampler_steps() - 1 : sampler_steps();
}

double LangevinDiffusion::tau(double t) const {
  PHASEGEN_CHECK(t >= 0 && t <= static_cast<double>(schedule_.steps()), "tau: step ", t, " outside 0..",
                 schedule_.steps());
  const auto below = static_cast<std::int64_t>(std::floor(t));
  const double lower = schedule_.sigma2(below) / 2.0;
  if (below == schedule_.steps()) return lower;
  return lower + (t - static_cast<double>(below)) * schedule_.gamma(below + 1);
}

at::Tensor LangevinDiffusion::reference_score(const at::Tensor& q) const {
  return options_.reference_score() == ReferenceScore::kExact ? rambo_prior_score(q)
                                             : rambo_prior_score_regularised(q, options_.epsilon());
}

at::Tensor LangevinDiffusion::sample_times(std::int64_t batch, at::Generator& gen) const {
  const std::int64_t steps = schedule_.steps();
  at::Tensor t = at::arange(1, steps + 1, at::TensorOptions().dtype(at::kDouble).device(gen.device()));
  at::Tensor probs = (1.0 - t / steps + 0.01).pow(2);
  return at::multinomial(probs, batch, /*replacement=*/true, gen) + 1;
}

at::Tensor LangevinDiffusion::forward_to(const at::Tensor& q0, const at::Tensor& t, at::Generator& gen) const {
  PHASEGEN_CHECK(t.dim() == 1 && t.size(0) == q0.size(0), "forward_to: expected one step per example, but got ",
                 t.sizes(), " for q0 of shape ", q0.sizes());
  auto [sorted, order] = at::sort(t, 0, /*descending=*/true);
  at::Tensor q = q0.index_select(0, order).clone();
  at::Tensor sorted_cpu = sorted.to(at::kCPU).contiguous();
  std::vector<std::int64_t> steps(sorted_cpu.data_ptr<std::int64_t>(),
                                  sorted_cpu.data_ptr<std::int64_t>() + sorted_cpu.numel());
  const std::int64_t t_max = steps.empty() ? 0 : steps.front();
  std::int64_t active = static_cast<std::int64_t>(steps.size());
  for (std::int64_t s = 1; s <= t_max; ++s) {
    while (active > 0 && steps[active - 1] < s) --active;  // the prefix with t >= s keeps going
    at::Tensor x = q.narrow(0, 0, active);
    const double g = schedule_.gamma(s);
    at::Tensor noise = at::randn(x.sizes(), gen, x.options());
    x.add_(reference_score(x), g).add_(noise, std::sqrt(2.0 * g));
  }
  at::Tensor out = at::empty_like(q);
  out.index_copy_(0, order, q);
  return out;
}

at::Tensor LangevinDiffusion::network_time(const at::Tensor& q, const at::Tensor& t) const {
  return t.to(q.scalar_type()) / static_cast<double>(schedule_.steps());
}

at::Tensor LangevinDiffusion::sigma_at(const at::Tensor& q, const at::Tensor& t) const {
  return sigma2s_.to(q.device()).index_select(0, t).sqrt();
}

at::Tensor LangevinDiffusion::score(QNetworkImpl& net, const at::Tensor& q, const at::Tensor& t) const {
  at::Tensor out = net.forward(q, network_time(q, t));
  if (options_.parametrisation() == ScoreParametrisation::kScoreOverSigma) out = out / sigma_at(q, t).view({-1, 1, 1});
  return out;
}

std::pair<at::Tensor, at::Tensor> LangevinDiffusion::score_and_divergence(QNetworkImpl& net, const at::Tensor& q,
                                                                           const at::Tensor& t,
                                                                           at::Generator& gen) const {
  auto* mlp = dynamic_cast<MlpNetworkImpl*>(&net);
  if (options_.divergence() == DivergenceEstimate::kExact && mlp != nullptr && mlp->options().extra_inputs() == 0) {
    auto [out, div] = mlp->forward_and_divergence(q, network_time(q, t));
    if (options_.parametrisation() == ScoreParametrisation::kScoreOverSigma) {
      const at::Tensor sigma = sigma_at(q, t);
      return {out / sigma.view({-1, 1, 1}), div / sigma};
    }
    return {out, div};
  }
  at::Tensor x = q.detach().requires_grad_(true);
  at::Tensor s = score(net, x, t);
  return {s, options_.divergence() == DivergenceEstimate::kExact ? exact_divergence(s, x) : hutchinson_divergence(s, x, gen)};
}

at::Tensor LangevinDiffusion::loss(QNetworkImpl& net, const at::Tensor& q0, at::Generator& gen) const {
  at::Tensor t = sample_times(q0.size(0), gen).to(q0.device());
  at::Tensor qt;
  {
    at::NoGradGuard no_grad;
    qt = forward_to(q0, t, gen);
  }
  auto [s, div] = score_and_divergence(net, qt, t, gen);
  at::Tensor objective = 0.5 * s.pow(2).flatten(1).sum(1) + div;
  at::Tensor tf = t.to(q0.scalar_type());
  at::Tensor w = options_.weighting() == LossWeighting::kPaper ? 1.0 - tf / static_cast<double>(schedule_.steps()) + 0.01
                                               : sigma2s_.to(q0.device()).index_select(0, t);
  return (w * objective).mean();
}

at::Tensor LangevinDiffusion::score_at(QNetworkImpl& net, const at::Tensor& q, double t) const {
  const double steps = static_cast<double>(schedule_.steps());
  // t / T in the state's precision, as score() computes it for integer steps.
  at::Tensor out = net.forward(q, (at::full({1}, t, q.options()) / steps).expand({q.size(0)}));
  if (options_.parametrisation() == ScoreParametrisation::kScoreOverSigma) out = out / std::sqrt(2.0 * tau(t));
  return out;
}

at::Tensor LangevinDiffusion::sample(QNetworkImpl& net, std::int64_t batch, std::int64_t particles,
                                     at::Generator& gen, std::int64_t every, const StateCallback& on_state) const {
  at::Tensor q = sample_rambo_prior(batch, particles, gen, at::kFloat);
  return run([&](const at::Tensor& x, double t) { return score_at(net, x, t); }, q, gen, every, on_state);
}

at::Tensor LangevinDiffusion::run(const ScoreFunction& score, at::Tensor q, at::Generator& gen, std::int64_t every,
                                  const StateCallback& on_state) const {
  at::NoGradGuard no_grad;
  const std::int64_t n = sampler_steps();
  const bool heun = options_.sampler() == LangevinSampler::kHeun;
  if (every > 0 && on_state) on_state(schedule_.steps(), q);
  for (std::int64_t k = 1; k <= n; ++k) {
    const double from = grid_[static_cast<std::size_t>(k - 1)];
    const double to = grid_[static_cast<std::size_t>(k)];
    if (heun) {
      // dQ/dtau = f(Q) - s(Q, tau), integrated from tau(from) down to tau(to).
      const double dtau = tau(to) - tau(from);
      at::Tensor slope = reference_score(q).sub_(score(q, from));
      at::Tensor euler = q + slope * dtau;
      if (k < n) {
        at::Tensor slope_end = reference_score(euler).sub_(score(euler, to));
        q = q + (slope + slope_end) * (0.5 * dtau);
      } else {
        q = euler;
      }
    } else {
      // Reverse Euler-Maruyama over the merged steps (to, from]: g = their summed gamma.
      const auto t = static_cast<std::int64_t>(from);
      const auto t_to = static_cast<std::int64_t>(to);
      double g = 0.0;
      for (std::int64_t s = t_to + 1; s <= t; ++s) g += schedule_.gamma(s);
      at::Tensor drift = score(q, from).mul(2.0 * g).sub_(reference_score(q), g);
      const double variance = options_.variance() == SamplerVariance::kPaper
                                  ? 2.0 * g
                                  : 2.0 * g * schedule_.sigma2(t_to) / schedule_.sigma2(t);
      q = q + drift;
      if (variance > 0) q.add_(at::randn(q.sizes(), gen, q.options()), std::sqrt(variance));
    }
    if (every > 0 && on_state && ((n - k) % every == 0 || k == n)) on_state(std::llround(to), q);
  }
  return q;
}

}  // namespace phasegen
