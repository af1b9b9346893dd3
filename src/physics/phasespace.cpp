#include "phasegen/physics/phasespace.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "phasegen/core/error.hpp"
#include "physics/phasespace_detail.hpp"

namespace phasegen {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr std::int64_t kChunkElements = 49152;
// Above this boost the map's round-off (~gamma ulps) is projected away; below it the light-cone
// form keeps every event within 1e-13 of exact conservation.
constexpr double kProjectAboveGamma = 64.0;

void check_qspace(const at::Tensor& q, const char* what) {
  PHASEGEN_CHECK(q.dim() == 3 && q.size(2) == 3, what, ": expected q of shape [batch, N, 3], but got ",
                 q.sizes());
  PHASEGEN_CHECK(at::isFloatingType(q.scalar_type()), what,
                 ": expected a floating-point tensor, but got ", q.scalar_type());
}

void check_momenta(const at::Tensor& p, const char* what) {
  PHASEGEN_CHECK(p.dim() == 3 && p.size(2) == 4, what,
                 ": expected momenta of shape [batch, N, 4], but got ", p.sizes());
  PHASEGEN_CHECK(at::isFloatingType(p.scalar_type()), what,
                 ": expected a floating-point tensor, but got ", p.scalar_type());
}

// Uniform numbers in (0, 1): torch draws [0, 1), and a zero would give log(0).
at::Tensor open_uniform(at::IntArrayRef shape, at::Generator& gen, at::ScalarType dtype) {
  // The lower end is the smallest normal number of the type itself: DBL_MIN rounds to 0 in float32,
  // where uniform_ does return 0 (once in 2^24 draws), and -log(0) is infinite. The other draws are
  // unchanged, so float32 streams stay as they were.
  const double lowest = dtype == at::kDouble ? DBL_MIN : FLT_MIN;
  return at::empty(shape, at::TensorOptions().dtype(dtype).device(gen.device())).uniform_(lowest, 1.0, gen);
}

// Isotropic unit vectors from two uniform planes: returns [3, ...].
at::Tensor isotropic_directions(const at::Tensor& u_cos, const at::Tensor& u_phi) {
  at::Tensor cos_theta = u_cos.mul(2.0).sub_(1.0);
  at::Tensor sin_theta = (1.0 - cos_theta * cos_theta).clamp_min_(0.0).sqrt_();
  at::Tensor phi = u_phi.mul(2.0 * kPi);
  return at::stack({sin_theta * at::cos(phi), sin_theta.mul_(at::sin(phi)), cos_theta}, 0);
}

// Derivatives. The exact maps below work in place and in light-cone form for their values; autograd
// cannot follow in-place steps. Where a graph is being recorded they return the exact value with the
// derivatives of the plain textbook formula of the same map: exact + (plain - plain.detach()) holds
// the exact value bit for bit (plain - plain is 0) and has plain's derivatives to every order.
bool records_graph(const at::Tensor& t) { return at::GradMode::is_enabled() && t.requires_grad(); }

at::Tensor with_plain_derivatives(const at::Tensor& exact, const at::Tensor& plain) {
  return exact + (plain - plain.detach());
}

// The fibre point (b, x) of states q [B, N, 3] as written in the physics notes: b = -Qvec/M, x = sqrt_s/M.
std::pair<at::Tensor, at::Tensor> plain_fibre(const at::Tensor& q, double sqrt_s) {
  at::Tensor q0 = at::linalg_vector_norm(q, 2, {-1}, false, c10::nullopt).sum(1);  // [B]
  at::Tensor qvec = q.sum(1);                                                        // [B, 3]
  at::Tensor mass = (q0 * q0 - (qvec * qvec).sum(-1)).sqrt();
  return {-qvec / mass.unsqueeze(1), sqrt_s / mass};
}

// The light-cone-free boost of 4-vectors k [B, N, 4] by b [B, 3]: Lambda(b) k with gamma = sqrt(1 + b^2),
// a = 1 / (1 + gamma): (gamma k0 + b.k, kvec + b k0 + a (b.k) b).
at::Tensor plain_boost(const at::Tensor& k, const at::Tensor& b) {
  at::Tensor bb = b.unsqueeze(1);                                          // [B, 1, 3]
  at::Tensor gamma = ((b * b).sum(-1) + 1.0).sqrt().view({-1, 1, 1});      // [B, 1, 1]
  at::Tensor k0 = k.narrow(2, 0, 1);
  at::Tensor kvec = k.narrow(2, 1, 3);
  at::Tensor bk = (bb * kvec).sum(-1, true);
  return at::cat({gamma * k0 + bk, kvec + bb * k0 + bk * bb / (gamma + 1.0)}, -1);
}

at::Tensor plain_rambo_map(const at::Tensor& q, double sqrt_s) {
  auto [b, x] = plain_fibre(q, sqrt_s);
  at::Tensor k = at::cat({at::linalg_vector_norm(q, 2, {-1}, true, c10::nullopt), q}, -1);
  return plain_boost(k, b) * x.view({-1, 1, 1});
}

}  // namespace

namespace detail {

PolarQ sample_polar_prior(std::int64_t batch, std::int64_t particles, at::Generator& gen,
                          at::ScalarType dtype) {
  at::Tensor r = open_uniform({4, particles, batch}, gen, dtype);
  // |q| = -log(r1 r2) ~ Gamma(2, 1).
  at::Tensor energy = at::log(r[0] * r[1]).neg_();
  return {energy, isotropic_directions(r[2], r[3])};
}

PolarQ to_polar(const at::Tensor& v) {
  at::Tensor planes = v.permute({2, 1, 0}).contiguous();  // [3, N, B]
  at::Tensor energy = (planes * planes).sum(0).sqrt_();
  // A zero vector keeps a zero direction; it then maps to a zero momentum.
  return {energy, planes.div_(energy.clamp_min(DBL_MIN))};
}

at::Tensor half_sq_distance(const at::Tensor& dir, const at::Tensor& unit) {
  at::Tensor d = dir + unit;
  d.mul_(d);
  return d.sum(0).mul_(0.5);
}

void boost_massless(const PolarQ& k, const at::Tensor& h, const at::Tensor& bhat,
                    const at::Tensor& babs, const at::Tensor& gamma, const at::Tensor& scale,
                    at::Tensor& out) {
  // Light-cone form of Lambda(b): with h = (1 + cos(k, b))  = |k_hat + b_hat|^2 / 2 and
  // e^-eta = gamma - |b| = 1 / (gamma + |b|),
  //   k0'   = x |k| (e^-eta + |b| h)
  //   kvec' = x kvec + x |k| ((gamma - 1) h + 1 - e^-eta) b_hat.
  // Every term is a sum of non-negative parts, so a particle moving against a large boost
  // keeps its absolute precision instead of losing gamma^2 ulps to cancellation.
  at::Tensor e_minus_eta = (gamma + babs).reciprocal_();  // [B]
  at::Tensor xe = k.energy * scale;                        // [N, B]
  at::Tensor p0 = at::addcmul(e_minus_eta, babs, h).mul_(xe);
  at::Tensor c = at::addcmul(1.0 - e_minus_eta, gamma - 1.0, h).mul_(xe);
  at::Tensor pvec = at::addcmul(k.direction * xe, c, bhat);  // [3, N, B]
  out.select(2, 0).copy_(p0.t());
  out.narrow(2, 1, 3).copy_(pvec.permute({2, 1, 0}));
}

BoostToRest rest_frame_boost(const PolarQ& q) {
  at::Tensor q0 = q.energy.sum(0);                                     // [B]
  at::Tensor qvec = (q.direction * q.energy).sum(1);                   // [3, B]
  at::Tensor qabs = (qvec * qvec).sum(0).sqrt_();                      // [B]
  at::Tensor ez = at::zeros({3, 1}, qvec.options());
  ez[2] = 1.0;
  at::Tensor n = at::where(qabs > 0, qvec / qabs.clamp_min(DBL_MIN), ez);  // [3, B]
  at::Tensor bhat = n.neg().unsqueeze(1);                                  // [3, 1, B]
  // h_i = |q_hat_i - n|^2 / 2 = 1 - cos(q_i, Qvec) gives Q0 - |Qvec| = sum_i |q_i| h_i with no
  // cancellation (and it is stationary in the error of n), hence an accurate invariant mass.
  at::Tensor h = half_sq_distance(q.direction, bhat);                      // [N, B]
  at::Tensor deficit = (q.energy * h).sum(0);                              // Q0 - |Qvec|
  at::Tensor mass = (deficit * (2.0 * q0 - deficit)).sqrt_();
  return {bhat, h, q0, qabs, mass};
}

void project_onto_phase_space(at::Tensor& p, double sqrt_s) {
  at::Tensor pvec = p.narrow(2, 1, 3);
  at::Tensor energy = p.select(2, 0);
  at::Tensor residual = pvec.sum(1, true);  // [B, 1, 3]
  pvec.sub_(residual * (energy / energy.sum(1, true)).unsqueeze(2));
  energy.copy_(at::linalg_vector_norm(pvec, 2, {2}, false, c10::nullopt));
  p.mul_((sqrt_s / energy.sum(1)).view({-1, 1, 1}));
}

void map_polar(const PolarQ& q, double sqrt_s, at::Tensor& out) {
  BoostToRest r = rest_frame_boost(q);
  at::Tensor gamma = r.q0 / r.mass;
  boost_massless(q, r.h, r.bhat, r.qabs / r.mass, gamma, sqrt_s / r.mass, out);
  // Nearly collinear q make the map itself ill-conditioned: its value moves by ~gamma ulps
  // when q moves by one, and the particles' errors need not cancel. Such rare events are
  // put back onto the mass shell and into the CM frame; the change is of the size of that
  // round-off, so events below the threshold are left as they are.
  at::Tensor steep = (gamma > kProjectAboveGamma).nonzero().squeeze(1);
  if (steep.numel() > 0) {
    at::Tensor events = out.index_select(0, steep);
    project_onto_phase_space(events, sqrt_s);
    out.index_copy_(0, steep, events);
  }
}

at::Tensor empty_events(const PolarQ& q) {
  return at::empty({q.energy.size(1), q.energy.size(0), 4}, q.energy.options());
}

}  // namespace detail


LiftOptions LiftOptions::fixed(double scale) {
  PHASEGEN_CHECK(std::isfinite(scale) && scale > 0, "fixed lift: expected a scale x > 0, but got ",
                 scale);
  return LiftOptions(Kind::kFixed, scale);
}

std::string LiftOptions::description() const {
  if (kind_ == Kind::kRandom) return "random";
  return detail::concat("fixed(", scale_, ")");
}

at::Tensor sample_rambo_prior(std::int64_t batch, std::int64_t particles, at::Generator& gen,
                              at::ScalarType dtype) {
  PHASEGEN_CHECK(batch >= 0 && particles >= 1, "sample_rambo_prior: expected batch >= 0 and N >= 1, but got batch ",
                 batch, " and N ", particles);
  detail::PolarQ q = detail::sample_polar_prior(batch, particles, gen, dtype);
  return (q.direction * q.energy).permute({2, 1, 0}).contiguous();
}

at::Tensor rambo_prior_log_density(const at::Tensor& q) {
  check_qspace(q, "rambo_prior_log_density");
  at::Tensor r = at::linalg_vector_norm(q, 2, {2}, false, c10::nullopt);
  return (r + at::log(r * (4.0 * kPi))).sum(1).neg_();
}

at::Tensor rambo_prior_score(const at::Tensor& q) {
  check_qspace(q, "rambo_prior_score");
  at::Tensor r = at::linalg_vector_norm(q, 2, {2}, true, c10::nullopt);
  // -(1 + 1/r) q/r
  return q * ((r + 1.0) / (r * r)).neg_();
}

at::Tensor rambo_prior_score_regularised(const at::Tensor& q, double eps) {
  check_qspace(q, "rambo_prior_score_regularised");
  PHASEGEN_CHECK(eps > 0, "rambo_prior_score_regularised: expected eps > 0, but got ", eps);
  at::Tensor r = at::linalg_vector_norm(q, 2, {2}, true, c10::nullopt);
  at::Tensor r2 = r * r;
  return q * (r.clamp_min(DBL_MIN).reciprocal() + (r2 + eps * eps).reciprocal()).neg_();
}

at::Tensor massless_momenta(const at::Tensor& q) {
  PHASEGEN_CHECK(q.dim() >= 1 && q.size(-1) == 3, "massless_momenta: expected [..., 3], but got ",
                 q.sizes());
  at::Tensor e = at::linalg_vector_norm(q, 2, {-1}, true, c10::nullopt);
  return at::cat({e, q}, -1);
}

at::Tensor rambo_map(const at::Tensor& q, double sqrt_s) {
  check_qspace(q, "rambo_map");
  PHASEGEN_CHECK(std::isfinite(sqrt_s) && sqrt_s > 0, "rambo_map: expected sqrt_s > 0, but got ",
                 sqrt_s);
  PHASEGEN_CHECK(q.size(1) >= 2, "rambo_map: expected N >= 2 particles, but got ", q.size(1));
  at::Tensor out;
  {
    at::NoGradGuard exact_value;
    detail::PolarQ polar = detail::to_polar(q);
    out = detail::empty_events(polar);
    detail::map_polar(polar, sqrt_s, out);
  }
  return records_graph(q) ? with_plain_derivatives(out, plain_rambo_map(q, sqrt_s)) : out;
}

FibrePoint fibre_point(const at::Tensor& q, double sqrt_s) {
  check_qspace(q, "fibre_point");
  FibrePoint exact;
  {
    at::NoGradGuard exact_value;
    detail::BoostToRest r = detail::rest_frame_boost(detail::to_polar(q));
    at::Tensor babs = r.qabs / r.mass;
    at::Tensor boost = r.bhat.squeeze(1).t() * babs.unsqueeze(1);
    exact = {boost.contiguous(), sqrt_s / r.mass};
  }
  if (!records_graph(q)) return exact;
  auto [b, x] = plain_fibre(q, sqrt_s);
  return {with_plain_derivatives(exact.boost, b), with_plain_derivatives(exact.scale, x)};
}

at::Tensor rambo_inverse(const at::Tensor& p, const FibrePoint& fibre) {
  check_momenta(p, "rambo_inverse");
  const auto batch = p.size(0);
  PHASEGEN_CHECK(fibre.boost.dim() == 2 && fibre.boost.size(0) == batch && fibre.boost.size(1) == 3,
                 "rambo_inverse: expected boost of shape [", batch, ", 3], but got ",
                 fibre.boost.sizes());
  PHASEGEN_CHECK(fibre.scale.dim() == 1 && fibre.scale.size(0) == batch,
                 "rambo_inverse: expected scale of shape [", batch, "], but got ", fibre.scale.sizes());
  // q = (1/x) Lambda(-b) p: the same light-cone boost with b -> -b and scale 1/x.
  at::Tensor q;
  {
    at::NoGradGuard exact_value;
    detail::PolarQ k = detail::to_polar(p.narrow(2, 1, 3));
    at::Tensor babs = at::linalg_vector_norm(fibre.boost, 2, {1}, true, c10::nullopt);  // [B, 1]
    at::Tensor ez = at::zeros({1, 3}, babs.options());
    ez[0][2] = 1.0;
    at::Tensor bhat = at::where(babs > 0, fibre.boost.neg() / babs.clamp_min(DBL_MIN), ez);
    bhat = bhat.t().unsqueeze(1);  // [3, 1, B]
    babs = babs.squeeze(1);
    at::Tensor gamma = (babs * babs + 1.0).sqrt_();
    at::Tensor h = detail::half_sq_distance(k.direction, bhat);
    at::Tensor q4 = detail::empty_events(k);
    detail::boost_massless(k, h, bhat, babs, gamma, fibre.scale.reciprocal(), q4);
    q = q4.narrow(2, 1, 3).contiguous();
  }
  if (!(records_graph(p) || records_graph(fibre.boost) || records_graph(fibre.scale))) return q;
  // The exact map reads each particle as (|pvec|, pvec), as the plain one does.
  at::Tensor pvec = p.narrow(2, 1, 3);
  at::Tensor k = at::cat({at::linalg_vector_norm(pvec, 2, {-1}, true, c10::nullopt), pvec}, -1);
  at::Tensor plain = plain_boost(k, -fibre.boost).narrow(2, 1, 3) / fibre.scale.view({-1, 1, 1});
  return with_plain_derivatives(q, plain);
}

FibrePoint sample_fibre_point(std::int64_t particles, const at::Tensor& sqrt_s, at::Generator& gen) {
  PHASEGEN_CHECK(particles >= 2, "sample_fibre_point: expected N >= 2, but got ", particles);
  PHASEGEN_CHECK(sqrt_s.dim() == 1, "sample_fibre_point: expected sqrt_s of shape [batch], but got ",
                 sqrt_s.sizes());
  const auto batch = sqrt_s.size(0);
  auto opts = sqrt_s.options();
  auto gamma_draw = [&](double alpha) {
    return at::_standard_gamma(at::full({batch}, alpha, opts), gen);
  };
  at::Tensor q0 = gamma_draw(2.0 * particles);
  // u = G1/(G1+G2) ~ Beta(3/2, N-1); 1 - u = G2/(G1+G2) kept exact.
  at::Tensor g1 = gamma_draw(1.5);
  at::Tensor g2 = gamma_draw(static_cast<double>(particles - 1));
  at::Tensor r = open_uniform({2, batch}, gen, sqrt_s.scalar_type());
  at::Tensor n = isotropic_directions(r[0], r[1]).t();  // [B, 3]
  at::Tensor babs = (g1 / g2).sqrt_();
  at::Tensor mass = q0 * (g2 / (g1 + g2)).sqrt_();
  return {n.mul_(babs.neg().unsqueeze(1)).contiguous(), sqrt_s / mass};
}

at::Tensor lift_to_qspace(const at::Tensor& p, const LiftOptions& lift, at::Generator& gen) {
  check_momenta(p, "lift_to_qspace");
  PHASEGEN_CHECK(p.size(1) >= 2, "lift_to_qspace: expected N >= 2 particles, but got ", p.size(1));
  at::Tensor sqrt_s = p.select(2, 0).sum(1);
  if (lift.kind() == LiftOptions::Kind::kFixed) {
    return p.narrow(2, 1, 3) / (sqrt_s * lift.scale()).view({-1, 1, 1});
  }
  return rambo_inverse(p, sample_fibre_point(p.size(1), sqrt_s, gen));
}

at::Tensor sample_uniform_phase_space(std::int64_t batch, std::int64_t particles, double sqrt_s,
                                      at::Generator& gen) {
  PHASEGEN_CHECK(particles >= 2, "sample_uniform_phase_space: expected N >= 2 particles, but got ",
                 particles);
  PHASEGEN_CHECK(batch >= 0, "sample_uniform_phase_space: expected batch >= 0, but got ", batch);
  PHASEGEN_CHECK(std::isfinite(sqrt_s) && sqrt_s > 0,
                 "sample_uniform_phase_space: expected sqrt_s > 0, but got ", sqrt_s);
  at::Tensor out = at::empty({batch, particles, 4}, at::TensorOptions().dtype(at::kDouble).device(gen.device()));
  // Chunks of about kChunkElements particles keep every pass in cache on the CPU.
  const std::int64_t chunk = std::max<std::int64_t>(256, kChunkElements / particles);
  for (std::int64_t start = 0; start < batch; start += chunk) {
    const std::int64_t n = std::min(chunk, batch - start);
    at::Tensor slice = out.narrow(0, start, n);
    detail::map_polar(detail::sample_polar_prior(n, particles, gen, at::kDouble), sqrt_s, slice);
  }
  return out;
}

double log_phase_space_volume(std::int64_t particles, double sqrt_s) {
  PHASEGEN_CHECK(particles >= 2, "phase_space_volume: expected N >= 2, but got ", particles);
  PHASEGEN_CHECK(std::isfinite(sqrt_s) && sqrt_s > 0, "phase_space_volume: expected sqrt_s > 0, but got ",
                 sqrt_s);
  const double n = static_cast<double>(particles);
  return (n - 1) * std::log(kPi / 2) + (n - 2) * 2 * std::log(sqrt_s) - std::lgamma(n) -
         std::lgamma(n - 1);
}

double phase_space_volume(std::int64_t particles, double sqrt_s) {
  return std::exp(log_phase_space_volume(particles, sqrt_s));
}

StateInvariants state_invariants(const at::Tensor& q) {
  check_qspace(q, "state_invariants");
  PHASEGEN_CHECK(q.size(1) >= 2, "state_invariants: expected N >= 2 particles, but got ", q.size(1));
  const at::Tensor r = at::linalg_vector_norm(q, 2, {-1}, true, c10::nullopt);  // [b, N, 1]
  const at::Tensor unit = q / r;
  const at::Tensor gap = (unit.unsqueeze(2) - unit.unsqueeze(1)).pow(2).sum(-1);  // |q_hat_i - q_hat_j|^2
  const at::Tensor dot = 0.5 * r * r.transpose(1, 2) * gap;                        // q_i.q_j, zero diagonal
  const at::Tensor row = dot.sum(2);                                               // q_i.Q
  const at::Tensor q2 = row.sum(1, true);                                          // Q^2
  StateInvariants inv;
  inv.y = 2.0 * dot / q2.unsqueeze(2);
  inv.x = 2.0 * row / q2;
  return inv;
}

at::Tensor log_invariant_features(const at::Tensor& q) {
  const StateInvariants inv = state_invariants(q.to(at::kDouble));
  const std::int64_t n = q.size(1);
  // Row i: x_i in the diagonal's place, then y_ij; the diagonal moved to the front of each row.
  at::Tensor table = inv.y + at::diag_embed(inv.x);
  at::Tensor order = at::empty({n, n}, at::TensorOptions().dtype(at::kLong));
  auto o = order.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < n; ++i) {
    o[i][0] = i;
    for (std::int64_t j = 0, k = 1; j < n; ++j) {
      if (j != i) o[i][k++] = j;
    }
  }
  order = order.to(q.device()).unsqueeze(0).expand({q.size(0), n, n});
  return at::log(at::gather(table, 2, order).clamp_min(kInvariantFloor)) / 10.0;
}

}  // namespace phasegen
