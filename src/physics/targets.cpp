#include "phasegen/physics/targets.hpp"

#include <algorithm>
#include <cmath>

#include "phasegen/core/error.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen {

namespace {

constexpr double kPi = 3.14159265358979323846;
// Proposals per round are capped to bound memory; rounds repeat until enough are accepted.
constexpr std::int64_t kMaxProposals = 1 << 20;

at::TensorOptions cpu_double() { return at::TensorOptions().dtype(at::kDouble); }

at::Tensor uniform(at::IntArrayRef shape, at::Generator& gen) { return at::rand(shape, gen, cpu_double()); }

// Uniformly random rotations from normalised Gaussian quaternions: [n, 3, 3].
at::Tensor random_rotations(std::int64_t n, at::Generator& gen) {
  at::Tensor q = at::randn({n, 4}, gen, cpu_double());
  q = q / q.norm(2, 1, true);
  at::Tensor a = q.select(1, 0), b = q.select(1, 1), c = q.select(1, 2), d = q.select(1, 3);
  std::vector<at::Tensor> rows = {
      at::stack({a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)}, 1),
      at::stack({2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)}, 1),
      at::stack({2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d}, 1)};
  return at::stack(rows, 1);
}

// Rotates the 3-momenta of events [n, N, 4] by per-event rotations [n, 3, 3].
at::Tensor rotate(const at::Tensor& p, const at::Tensor& rotations) {
  at::Tensor vec = at::matmul(p.narrow(2, 1, 3), rotations.transpose(1, 2));
  return at::cat({p.narrow(2, 0, 1), vec}, 2);
}

// A random permutation of the particles of every event.
at::Tensor shuffle_particles(const at::Tensor& p, at::Generator& gen) {
  at::Tensor order = at::argsort(uniform({p.size(0), p.size(1)}, gen), /*dim=*/1, /*descending=*/false);
  return p.gather(1, order.unsqueeze(2).expand({-1, -1, 4}));
}

at::Tensor isotropic(std::int64_t n, at::Generator& gen) {
  at::Tensor r = uniform({2, n}, gen);
  at::Tensor cos_theta = r[0] * 2.0 - 1.0;
  at::Tensor sin_theta = (1.0 - cos_theta * cos_theta).clamp_min(0.0).sqrt();
  at::Tensor phi = r[1] * (2.0 * kPi);
  return at::stack({sin_theta * at::cos(phi), sin_theta * at::sin(phi), cos_theta}, 1);
}

// Two unit vectors completing n [n, 3] to an orthonormal basis.
std::pair<at::Tensor, at::Tensor> orthonormal_completion(const at::Tensor& n) {
  at::Tensor ex = at::zeros_like(n);
  ex.select(1, 0).fill_(1.0);
  at::Tensor ey = at::zeros_like(n);
  ey.select(1, 1).fill_(1.0);
  at::Tensor helper = at::where((n.select(1, 0).abs() < 0.9).unsqueeze(1), ex, ey);
  at::Tensor e1 = at::cross(helper, n, 1);
  e1 = e1 / e1.norm(2, 1, true);
  return {e1, at::cross(n, e1, 1)};
}

// Boosts massless or massive k [n, 4] from the rest frame of P [n, 4] (mass M) to the frame in
// which P is given; sign = -1 goes the other way (lab to rest frame).
at::Tensor boost(const at::Tensor& k, const at::Tensor& total, const at::Tensor& mass, double sign) {
  at::Tensor p0 = total.select(1, 0), pvec = total.narrow(1, 1, 3) * sign;
  at::Tensor k0 = k.select(1, 0), kvec = k.narrow(1, 1, 3);
  at::Tensor e = (p0 * k0 + (pvec * kvec).sum(1)) / mass;
  at::Tensor v = kvec + pvec * ((k0 + e) / (p0 + mass)).unsqueeze(1);
  return at::cat({e.unsqueeze(1), v}, 1);
}

// One SARGE basic-antenna emission off (pa, pb): xi_1, xi_2 log-uniform in [1/xi_max, xi_max].
at::Tensor antenna_emission(const at::Tensor& pa, const at::Tensor& pb, double xi_max, at::Generator& gen) {
  const std::int64_t n = pa.size(0);
  at::Tensor total = pa + pb;
  at::Tensor mass = (total.select(1, 0).pow(2) - total.narrow(1, 1, 3).pow(2).sum(1)).clamp_min(0.0).sqrt();
  at::Tensor pa_rest = boost(pa, total, mass, -1.0).narrow(1, 1, 3);
  at::Tensor axis = pa_rest / pa_rest.norm(2, 1, true);
  auto [e1, e2] = orthonormal_completion(axis);
  at::Tensor r = uniform({3, n}, gen);
  const double log_xi = std::log(xi_max);
  at::Tensor xi1 = at::exp((r[0] * 2.0 - 1.0) * log_xi);
  at::Tensor xi2 = at::exp((r[1] * 2.0 - 1.0) * log_xi);
  at::Tensor phi = r[2] * (2.0 * kPi);
  at::Tensor sum = xi1 + xi2;
  at::Tensor energy = mass * sum * 0.5;
  at::Tensor cos_theta = (xi2 - xi1) / sum;
  at::Tensor sin_theta = 2.0 * (xi1 * xi2).sqrt() / sum;
  at::Tensor dir = e1 * (sin_theta * at::cos(phi)).unsqueeze(1) + e2 * (sin_theta * at::sin(phi)).unsqueeze(1) +
                   axis * cos_theta.unsqueeze(1);
  at::Tensor k_rest = at::cat({energy.unsqueeze(1), dir * energy.unsqueeze(1)}, 1);
  return boost(k_rest, total, mass, 1.0);
}

// Events of e+e- -> q qbar g from y1 = s23/s, y2 = s13/s, y3 = s12/s (they sum to 1). The two
// softer particles a, b are placed first (a along +z, b in the xz plane) and the hardest is
// p_c = -(p_a + p_b): its size E_c >= sqrt_s/3 leaves no room for cancellation, which a soft
// particle built that way would suffer. Then a random rotation.
at::Tensor qqg_events(const at::Tensor& y1, const at::Tensor& y2, const at::Tensor& y3, double sqrt_s,
                      at::Generator& gen) {
  const std::int64_t n = y1.size(0);
  at::Tensor y = at::stack({y1, y2, y3}, 1);  // y_k = s_ij / s, (i, j, k) a permutation
  at::Tensor x = 1.0 - y;
  at::Tensor hardest = x.argmax(1);
  // (a, b, c) = (other, other, hardest) in cyclic order.
  at::Tensor order = at::stack({(hardest + 1) % 3, (hardest + 2) % 3, hardest}, 1);
  at::Tensor xs = x.gather(1, order);
  at::Tensor xa = xs.select(1, 0), xb = xs.select(1, 1);
  at::Tensor yc = y.gather(1, hardest.unsqueeze(1)).squeeze(1);
  at::Tensor ea = xa * (0.5 * sqrt_s), eb = xb * (0.5 * sqrt_s);
  // 1 - cos(theta_ab) = 2 y_c / (x_a x_b), computed without cancellation.
  at::Tensor d = (2.0 * yc / (xa * xb)).clamp(0.0, 2.0);
  at::Tensor zero = at::zeros({n}, cpu_double());
  at::Tensor va = at::stack({zero, zero, ea}, 1);
  at::Tensor vb = at::stack({eb * (d * (2.0 - d)).sqrt(), zero, eb * (1.0 - d)}, 1);
  at::Tensor vc = -(va + vb);
  at::Tensor built = at::stack({at::cat({ea.unsqueeze(1), va}, 1), at::cat({eb.unsqueeze(1), vb}, 1),
                                at::cat({vc.norm(2, 1, true), vc}, 1)},
                               1);
  at::Tensor events = at::empty_like(built).scatter_(1, order.unsqueeze(2).expand({-1, -1, 4}), built);
  return rotate(events, random_rotations(n, gen));
}

}  // namespace

const char* target_name(TargetKind kind) {
  switch (kind) {
    case TargetKind::kUniform: return "uniform";
    case TargetKind::kMuon: return "muon";
    case TargetKind::kQqg: return "qqg";
    case TargetKind::kAps: return "aps";
  }
  return "unknown";
}

TargetKind target_from_name(const std::string& name) {
  for (TargetKind kind : {TargetKind::kUniform, TargetKind::kMuon, TargetKind::kQqg, TargetKind::kAps}) {
    if (name == target_name(kind)) return kind;
  }
  throw Error(detail::concat("unknown target '", name, "': expected uniform, muon, qqg, aps or file"));
}

CardSection TargetSpec::schema() {
  return CardSection("data", {{"target", CardType::kString},
                              {"sqrt_s", CardType::kFloat},
                              {"particles", CardType::kInt},
                              {"msq", CardType::kFloat},
                              {"symmetrize", CardType::kBool},
                              {"xi_max", CardType::kFloat},
                              {"shuffle", CardType::kBool},
                              {"in", CardType::kString},
                              {"events", CardType::kInt},
                              {"seed", CardType::kInt},
                              {"out", CardType::kString},
                              {"test_events", CardType::kInt},
                              {"test_seed", CardType::kInt},
                              {"test_out", CardType::kString}});
}

TargetSpec TargetSpec::from_table(const CardSection& card) {
  TargetSpec spec;
  spec.kind = target_from_name(card.get_string("target"));
  spec.sqrt_s = card.get_double("sqrt_s");
  if (card.has("particles")) spec.particles = card.get_int("particles");
  if (card.has("msq")) spec.msq = card.get_double("msq");
  if (card.has("symmetrize")) spec.symmetrize = card.get_bool("symmetrize");
  if (card.has("xi_max")) spec.xi_max = card.get_double("xi_max");
  if (card.has("shuffle")) spec.shuffle = card.get_bool("shuffle");
  spec.validate();
  return spec;
}

void TargetSpec::validate() const {
  PHASEGEN_CHECK(std::isfinite(sqrt_s) && sqrt_s > 0, "sqrt_s: expected a positive total energy, but got ", sqrt_s);
  switch (kind) {
    case TargetKind::kUniform:
      PHASEGEN_CHECK(particles >= 2, "particles: expected N >= 2 for the uniform target, but got ", particles);
      break;
    case TargetKind::kAps:
      PHASEGEN_CHECK(particles >= 3, "particles: expected N >= 3 for the APS target, but got ", particles);
      PHASEGEN_CHECK(std::isfinite(xi_max) && xi_max > 1, "xi_max: expected xi_max > 1, but got ", xi_max);
      break;
    case TargetKind::kQqg:
      PHASEGEN_CHECK(msq > 0 && msq < 1.0 / 3.0, "msq: expected a cut 0 < msq < 1/3 on s_ij/s, but got ", msq);
      break;
    case TargetKind::kMuon:
      break;
  }
}

std::int64_t TargetSpec::n_particles() const {
  return kind == TargetKind::kUniform || kind == TargetKind::kAps ? particles : 3;
}

std::vector<int> TargetSpec::pdg_ids() const {
  if (kind == TargetKind::kMuon) return {11, 14, -12};
  if (kind == TargetKind::kQqg) return {1, -1, 21};
  return std::vector<int>(n_particles(), kind == TargetKind::kAps ? 21 : 22);
}

std::string TargetSpec::description() const {
  switch (kind) {
    case TargetKind::kUniform:
      return detail::concat("uniform massless phase space, N = ", particles, ", sqrt_s = ", sqrt_s, " GeV");
    case TargetKind::kMuon:
      return detail::concat("muon decay (e, nu_mu, nubar_e), weight E3 (p1.p2), sqrt_s = ", sqrt_s, " GeV");
    case TargetKind::kQqg:
      return detail::concat("e+e- -> q qbar g, (x1^2 + x2^2)/((1-x1)(1-x2)), s_ij/s >= ", msq,
                            symmetrize ? ", shuffled" : ", ordered (q, qbar, g)", ", sqrt_s = ", sqrt_s, " GeV");
    case TargetKind::kAps:
      return detail::concat("APS antenna chain, N = ", particles, ", xi_max = ", xi_max,
                            shuffle ? ", shuffled" : ", chain order", ", sqrt_s = ", sqrt_s, " GeV");
  }
  return "unknown target";
}

double GenerationStats::efficiency() const {
  return proposed > 0 ? static_cast<double>(accepted) / static_cast<double>(proposed) : 0.0;
}

double GenerationStats::integral() const { return proposed > 0 ? weight_sum / static_cast<double>(proposed) : 0.0; }

double GenerationStats::integral_error() const {
  if (proposed < 2) return 0.0;
  const double n = static_cast<double>(proposed);
  const double mean = weight_sum / n;
  const double variance = std::max(0.0, weight_sq_sum / n - mean * mean);
  return std::sqrt(variance / (n - 1));
}

EventGenerator::EventGenerator(TargetSpec spec) : spec_(std::move(spec)) {
  spec_.validate();
  if (spec_.kind == TargetKind::kMuon) {
    stats_.has_integral = true;
    stats_.integral_unit = "integral of E3 (p1.p2) over flat phase space, GeV^5";
  } else if (spec_.kind == TargetKind::kQqg) {
    stats_.has_integral = true;
    stats_.integral_unit = "integral of (x1^2 + x2^2)/((1-x1)(1-x2)) over the cut phase space, GeV^2";
  }
}

at::Tensor EventGenerator::propose(std::int64_t proposals, at::Generator& gen) {
  const double s = spec_.sqrt_s * spec_.sqrt_s;
  at::Tensor estimator;
  at::Tensor events;
  at::Tensor accepted_mask;
  if (spec_.kind == TargetKind::kMuon) {
    events = sample_uniform_phase_space(proposals, 3, spec_.sqrt_s, gen);
    at::Tensor weight = muon_weight(events);
    accepted_mask = uniform({proposals}, gen) * (std::pow(s, 1.5) / 16.0) < weight;
    estimator = weight * phase_space_volume(3, spec_.sqrt_s);
  } else {
    // y1, y2 log-uniform in [msq, 1] (density 1 / (y1 y2 L^2)); the factor left over,
    // ((1 - y1)^2 + (1 - y2)^2) / 2 <= 1 inside the cut, is accepted against a uniform.
    at::Tensor r = uniform({3, proposals}, gen);
    const double log_m = std::log(spec_.msq);
    at::Tensor y1 = at::exp(r[0] * log_m), y2 = at::exp(r[1] * log_m);
    at::Tensor y3 = 1.0 - y1 - y2;
    at::Tensor factor = ((1.0 - y1).pow(2) + (1.0 - y2).pow(2)) * 0.5 * (y3 >= spec_.msq).to(at::kDouble);
    accepted_mask = r[2] < factor;
    // Integral = (pi^2 s / 4) int dy1 dy2 M^2 = (pi^2 s / 2) L^2 E[factor].
    estimator = factor * (kPi * kPi * s / 2.0 * log_m * log_m);
    at::Tensor idx = accepted_mask.nonzero().squeeze(1);
    events = qqg_events(y1.index_select(0, idx), y2.index_select(0, idx), y3.index_select(0, idx), spec_.sqrt_s, gen);
    if (spec_.symmetrize) events = shuffle_particles(events, gen);
  }
  stats_.weight_sum += estimator.sum().item<double>();
  stats_.weight_sq_sum += estimator.pow(2).sum().item<double>();
  return spec_.kind == TargetKind::kMuon ? events.index_select(0, accepted_mask.nonzero().squeeze(1)) : events;
}

at::Tensor EventGenerator::generate(std::int64_t events, at::Generator& gen) {
  PHASEGEN_CHECK(events >= 0, "generate: expected a number of events >= 0, but got ", events);
  if (spec_.kind == TargetKind::kUniform || spec_.kind == TargetKind::kAps) {
    at::Tensor p;
    if (spec_.kind == TargetKind::kUniform) {
      p = sample_uniform_phase_space(events, spec_.particles, spec_.sqrt_s, gen);
    } else {
      at::Tensor q = aps_chain(events, spec_.particles, spec_.xi_max, gen);
      p = rambo_map(q.narrow(2, 1, 3), spec_.sqrt_s);
      if (spec_.shuffle) p = shuffle_particles(p, gen);
    }
    stats_.proposed += events;
    stats_.accepted += events;
    return p;
  }
  std::vector<at::Tensor> parts;
  std::int64_t have = 0;
  while (have < events) {
    const double efficiency = stats_.accepted > 0 ? stats_.efficiency() : 0.5;
    const double wanted = static_cast<double>(events - have) / efficiency * 1.05 + 64.0;
    const std::int64_t proposals = std::min<std::int64_t>(kMaxProposals, static_cast<std::int64_t>(wanted));
    at::Tensor accepted = propose(proposals, gen);
    stats_.proposed += proposals;
    stats_.accepted += accepted.size(0);
    parts.push_back(accepted);
    have += accepted.size(0);
  }
  at::Tensor all = parts.empty() ? at::empty({0, 3, 4}, cpu_double()) : at::cat(parts, 0);
  return all.narrow(0, 0, events).contiguous();
}

at::Tensor muon_weight(const at::Tensor& p) {
  PHASEGEN_CHECK(p.dim() == 3 && p.size(1) == 3 && p.size(2) == 4,
                 "muon_weight: expected events of shape [n, 3, 4], but got ", p.sizes());
  at::Tensor p1 = p.select(1, 0), p2 = p.select(1, 1);
  at::Tensor dot12 = p1.select(1, 0) * p2.select(1, 0) - (p1.narrow(1, 1, 3) * p2.narrow(1, 1, 3)).sum(1);
  return p.select(1, 2).select(1, 0) * dot12;
}

at::Tensor qqg_weight(const at::Tensor& p, double sqrt_s) {
  PHASEGEN_CHECK(p.dim() == 3 && p.size(1) == 3 && p.size(2) == 4,
                 "qqg_weight: expected events of shape [n, 3, 4], but got ", p.sizes());
  at::Tensor x1 = p.select(1, 0).select(1, 0) * (2.0 / sqrt_s);
  at::Tensor x2 = p.select(1, 1).select(1, 0) * (2.0 / sqrt_s);
  return (x1 * x1 + x2 * x2) / ((1.0 - x1) * (1.0 - x2));
}

at::Tensor antenna_variables(const at::Tensor& pa, const at::Tensor& pb, const at::Tensor& k) {
  at::Tensor dots = pair_dots(at::stack({pa, pb, k}, 1));  // massless, collinear-safe
  at::Tensor ab = dots.select(1, 0).select(1, 1);
  return at::stack({dots.select(1, 0).select(1, 2) / ab, dots.select(1, 1).select(1, 2) / ab}, 1);
}

at::Tensor aps_chain(std::int64_t events, std::int64_t particles, double xi_max, at::Generator& gen) {
  PHASEGEN_CHECK(particles >= 3, "aps_chain: expected N >= 3, but got ", particles);
  PHASEGEN_CHECK(xi_max > 1, "aps_chain: expected xi_max > 1, but got ", xi_max);
  at::Tensor dir = isotropic(events, gen);
  at::Tensor half = at::full({events, 1}, 0.5, cpu_double());
  at::Tensor first = at::cat({half, dir * 0.5}, 1);
  at::Tensor last = at::cat({half, dir * -0.5}, 1);
  std::vector<at::Tensor> chain{first};
  for (std::int64_t i = 1; i + 1 < particles; ++i) {
    chain.push_back(antenna_emission(chain.back(), last, xi_max, gen));
  }
  chain.push_back(last);
  return at::stack(chain, 1);
}

namespace {

void check_density_events(const TargetSpec& spec, const at::Tensor& events) {
  spec.validate();
  PHASEGEN_CHECK(spec.kind != TargetKind::kAps,
                 "target aps: the APS sets have no closed-form density relative to flat phase space");
  PHASEGEN_CHECK(events.dim() == 3 && events.size(1) == spec.n_particles() && events.size(2) == 4,
                 "target ", target_name(spec.kind), ": expected events [n, ", spec.n_particles(), ", 4], but got ",
                 events.sizes());
}

// int over y2 in [lo, hi] of ((1 - y1)^2 + (1 - y2)^2) / (y1 y2), in closed form.
double qqg_inner(double y1, double lo, double hi) {
  if (hi <= lo) return 0.0;
  const double log_ratio = std::log(hi / lo);
  return ((1 - y1) * (1 - y1) * log_ratio + log_ratio - 2 * (hi - lo) + (hi * hi - lo * lo) / 2) / y1;
}

}  // namespace

at::Tensor target_density(const TargetSpec& spec, const at::Tensor& events) {
  check_density_events(spec, events);
  const at::Tensor p = events.to(at::kDouble);
  switch (spec.kind) {
    case TargetKind::kUniform: return at::ones({p.size(0)}, p.options());
    case TargetKind::kMuon: return muon_weight(p);
    case TargetKind::kQqg: {
      const double s = spec.sqrt_s * spec.sqrt_s;
      const at::Tensor y = pair_dots(p) * (2.0 / s);  // y[b, i, j] = s_ij / s
      const at::Tensor pass = (y.select(2, 1).select(1, 0) >= spec.msq) & (y.select(2, 2).select(1, 0) >= spec.msq) &
                              (y.select(2, 2).select(1, 1) >= spec.msq);
      // F for the particle order (a, b, c) read as (q, qbar, g): y1 = s_bc / s, y2 = s_ac / s.
      auto order = [&](int a, int b, int c) {
        const at::Tensor y1 = y.select(2, c).select(1, b), y2 = y.select(2, c).select(1, a);
        return ((1.0 - y1).pow(2) + (1.0 - y2).pow(2)) / (y1 * y2);
      };
      at::Tensor f = order(0, 1, 2);
      if (spec.symmetrize) {
        f = (f + order(1, 0, 2) + order(0, 2, 1) + order(2, 0, 1) + order(1, 2, 0) + order(2, 1, 0)) / 6.0;
      }
      return at::where(pass, f, at::zeros_like(f));
    }
    case TargetKind::kAps: break;
  }
  return {};
}

std::string target_density_unit(const TargetSpec& spec) { return spec.kind == TargetKind::kMuon ? "GeV^3" : ""; }

double target_integral(const TargetSpec& spec) {
  spec.validate();
  const double s = spec.sqrt_s * spec.sqrt_s;
  switch (spec.kind) {
    case TargetKind::kUniform: return phase_space_volume(spec.particles, spec.sqrt_s);
    case TargetKind::kMuon: return kPi * kPi / 192.0 * std::pow(spec.sqrt_s, 5);
    case TargetKind::kQqg: {
      // The cut region: y1, y2 >= m and y3 = 1 - y1 - y2 >= m. Simpson in t = log y1 over [m, 1 - 2m].
      const double m = spec.msq;
      const int steps = 20000;
      const double t0 = std::log(m), t1 = std::log(1.0 - 2.0 * m), h = (t1 - t0) / steps;
      double sum = 0.0;
      for (int k = 0; k <= steps; ++k) {
        const double y1 = std::exp(t0 + k * h);
        const double weight = (k == 0 || k == steps) ? 1.0 : (k % 2 ? 4.0 : 2.0);
        sum += weight * y1 * qqg_inner(y1, m, 1.0 - m - y1);
      }
      return kPi * kPi / 4.0 * s * sum * h / 3.0;
    }
    case TargetKind::kAps: break;
  }
  throw Error("target aps: the APS sets have no closed-form density relative to flat phase space");
}

}  // namespace phasegen
