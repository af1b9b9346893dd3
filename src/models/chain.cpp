#include "phasegen/models/chain.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "phasegen/core/error.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen {

namespace {

void check_events(const at::Tensor& events, const char* what) {
  PHASEGEN_CHECK(events.dim() == 3 && events.size(1) >= 3 && events.size(2) == 4, what,
                 ": expected events [b, N, 4] with N >= 3, but got ", events.sizes());
}

// Minkowski product of 4-vectors [..., 4].
at::Tensor dot4(const at::Tensor& a, const at::Tensor& b) {
  return a.select(-1, 0) * b.select(-1, 0) - (a.narrow(-1, 1, 3) * b.narrow(-1, 1, 3)).sum(-1);
}

// The massless 4-vector (|v|, v) of 3-vectors [..., 3].
at::Tensor massless(const at::Tensor& v) {
  return at::cat({at::linalg_vector_norm(v, 2, {-1}, true, c10::nullopt), v}, -1);
}

// s = 2 p.m of massless 4-vectors [b, 4] as E_p E_m |u_p - u_m|^2.
at::Tensor pair_invariant(const at::Tensor& p, const at::Tensor& m) {
  const at::Tensor up = p.narrow(-1, 1, 3) / at::linalg_vector_norm(p.narrow(-1, 1, 3), 2, {-1}, true, c10::nullopt);
  const at::Tensor um = m.narrow(-1, 1, 3) / at::linalg_vector_norm(m.narrow(-1, 1, 3), 2, {-1}, true, c10::nullopt);
  return p.select(-1, 0) * m.select(-1, 0) * (up - um).pow(2).sum(-1);
}

// 4-vectors v [b, N, 4] boosted (without rotation) into the rest frame of k [b, 4] of mass^2 k2
// (given, so that the mass of a near-collinear pair comes without cancellation).
at::Tensor boost_to_rest(const at::Tensor& k, const at::Tensor& k2, const at::Tensor& v) {
  const at::Tensor mass = at::sqrt(k2).unsqueeze(1);                       // [b, 1]
  const at::Tensor gamma = (k.select(1, 0).unsqueeze(1) / mass);            // [b, 1]
  const at::Tensor beta = (k.narrow(1, 1, 3) / k.narrow(1, 0, 1)).unsqueeze(1);  // [b, 1, 3]
  const at::Tensor along = (beta * v.narrow(2, 1, 3)).sum(-1);            // [b, N]
  const at::Tensor energy = gamma * (v.select(2, 0) - along);
  // gamma^2 / (gamma + 1) = (gamma - 1) / beta^2, without the 0 / 0 at rest.
  const at::Tensor coefficient = gamma * gamma / (gamma + 1.0) * along - gamma * v.select(2, 0);
  const at::Tensor momentum = v.narrow(2, 1, 3) + coefficient.unsqueeze(2) * beta;
  return at::cat({energy.unsqueeze(2), momentum}, 2);
}

// The unit spacelike vectors e1, e2 [b, 4] orthogonal to the massless pair (p, m) (pm = p.m > 0):
// e1 along the part of r orthogonal to both, e2 = eps(p, m, e1, .) normalised. `r_p`, `r_m`, `r_r`:
// the products r.p, r.m, r.r, passed in so that a massless r's come without cancellation.
std::pair<at::Tensor, at::Tensor> transverse_frame(const at::Tensor& p, const at::Tensor& m, const at::Tensor& pm,
                                                   const at::Tensor& r, const at::Tensor& r_p, const at::Tensor& r_m,
                                                   const at::Tensor& r_r) {
  const at::Tensor rt = r - (r_m / pm).unsqueeze(1) * p - (r_p / pm).unsqueeze(1) * m;
  // rt.rt < 0; floored where r is collinear with p or m to round-off (its azimuth then arbitrary).
  const at::Tensor rt2 = (2.0 * r_p * r_m / pm - r_r).clamp_min(std::numeric_limits<double>::min());
  const at::Tensor e1 = rt / at::sqrt(rt2).unsqueeze(1);
  // e2^mu = eps^{mu nu rho sigma} p_nu m_rho e1_sigma: signed 3 x 3 minors of the lowered rows,
  // each minor a triple product (a batched LU would cost more than the rest of the chart).
  const at::Tensor metric = at::tensor({1.0, -1.0, -1.0, -1.0}, p.options());
  const at::Tensor lp = p * metric, lm = m * metric, le = e1 * metric;
  std::vector<at::Tensor> components;
  for (std::int64_t mu = 0; mu < 4; ++mu) {
    std::vector<std::int64_t> keep;
    for (std::int64_t c = 0; c < 4; ++c)
      if (c != mu) keep.push_back(c);
    const at::Tensor columns = at::tensor(keep, at::kLong).to(p.device());
    const at::Tensor x = lp.index_select(1, columns), y = lm.index_select(1, columns), z = le.index_select(1, columns);
    components.push_back((mu % 2 == 0 ? 1.0 : -1.0) * (at::linalg_cross(x, y, 1) * z).sum(1));
  }
  at::Tensor e2 = at::stack(components, 1);
  // Its norm is p.m exactly (the Gram determinant of p, m, e1), free of the cancellation in e2.e2.
  e2 = e2 / pm.unsqueeze(1);
  return {e1, e2};
}

// The azimuth reference of an emission by (p, m): the particle before p in the chain (massless,
// `previous`), or for the first emission (previous undefined) the z axis. Holds r and its products
// with p, m and itself.
struct Reference {
  at::Tensor r, r_p, r_m, r_r;
};

Reference reference(const at::Tensor& previous, const at::Tensor& p, const at::Tensor& m) {
  if (previous.defined()) {
    return {previous, 0.5 * pair_invariant(previous, p), 0.5 * pair_invariant(previous, m),
            at::zeros_like(previous.select(1, 0))};
  }
  at::Tensor z = at::zeros_like(p);
  z.select(1, 3).fill_(1.0);
  return {z, dot4(z, p), dot4(z, m), -at::ones_like(p.select(1, 0))};
}

// A 2-vector of the azimuth phi [b] times a Rayleigh radius -> [b, 2].
at::Tensor lifted_angle(const at::Tensor& phi, at::Generator& gen) {
  const at::Tensor radius = at::linalg_vector_norm(at::randn({phi.size(0), 2}, gen, phi.options()), 2, {1}, false, c10::nullopt);
  return at::stack({radius * at::cos(phi), radius * at::sin(phi)}, 1);
}

// Depth-first search of the chain order with the smallest largest step, over one event's ln s_ij.
class OrderSearch {
 public:
  OrderSearch(const double* log_s, std::int64_t n) : l_(log_s), n_(n), used_(static_cast<std::size_t>(n)) {}

  std::vector<std::int64_t> run() {
    // Starts with the hardest pairs first, where a chain usually begins: a good bound early.
    std::vector<std::pair<double, std::pair<std::int64_t, std::int64_t>>> starts;
    for (std::int64_t a = 0; a < n_; ++a)
      for (std::int64_t c = 0; c < n_; ++c)
        if (a != c) starts.push_back({-l(c, a), {a, c}});
    std::sort(starts.begin(), starts.end());
    for (const auto& start : starts) {
      anchor_ = start.second.first;
      bound_for_anchor();
      std::fill(used_.begin(), used_.end(), 0);
      used_[static_cast<std::size_t>(anchor_)] = 1;
      used_[static_cast<std::size_t>(start.second.second)] = 1;
      chain_.assign(1, start.second.second);
      search(0.0);
    }
    best_chain_.push_back(best_anchor_);
    return best_chain_;
  }
  double cost() const { return best_; }

 private:
  double l(std::int64_t i, std::int64_t j) const { return l_[i * n_ + j]; }
  double step(std::int64_t emitter, std::int64_t k) const {
    const double base = l(emitter, anchor_);
    return std::max(std::fabs(l(emitter, k) - base), std::fabs(l(k, anchor_) - base));
  }
  // A lower bound on the step that will emit each particle k, whatever its emitter.
  void bound_for_anchor() {
    low_.assign(static_cast<std::size_t>(n_), 0.0);
    for (std::int64_t k = 0; k < n_; ++k) {
      if (k == anchor_) continue;
      double m = std::numeric_limits<double>::infinity();
      for (std::int64_t j = 0; j < n_; ++j)
        if (j != k && j != anchor_) m = std::min(m, step(j, k));
      low_[static_cast<std::size_t>(k)] = m;
    }
  }
  void search(double cost) {
    if (static_cast<std::int64_t>(chain_.size()) == n_ - 1) {
      if (cost < best_) {
        best_ = cost;
        best_chain_ = chain_;
        best_anchor_ = anchor_;
      }
      return;
    }
    const std::int64_t last = chain_.back();
    std::vector<std::pair<double, std::int64_t>> next;
    for (std::int64_t k = 0; k < n_; ++k) {
      if (used_[static_cast<std::size_t>(k)]) continue;
      const double c = std::max(cost, step(last, k));
      if (c < best_) next.push_back({c, k});
    }
    std::sort(next.begin(), next.end());
    for (const auto& [c, k] : next) {
      if (c >= best_) break;
      double low = c;
      for (std::int64_t j = 0; j < n_; ++j)
        if (!used_[static_cast<std::size_t>(j)] && j != k) low = std::max(low, low_[static_cast<std::size_t>(j)]);
      if (low >= best_) continue;
      used_[static_cast<std::size_t>(k)] = 1;
      chain_.push_back(k);
      search(c);
      chain_.pop_back();
      used_[static_cast<std::size_t>(k)] = 0;
    }
  }

  const double* l_;
  std::int64_t n_;
  std::int64_t anchor_ = 0, best_anchor_ = 0;
  double best_ = std::numeric_limits<double>::infinity();
  std::vector<char> used_;
  std::vector<double> low_;
  std::vector<std::int64_t> chain_, best_chain_;
};

// Draws one chain order of an event with probability proportional to 1 / (ring product of s_ij)
// among the orders whose steps all stay within the box: F(mask, c), the summed weight of every
// completion of a chain that has used the particles in `mask` and ends at c, is built from the full
// mask down, per anchor; the draw then walks forward with it.
class HistoryDraw {
 public:
  HistoryDraw(const double* log_s, std::int64_t n, double box)
      : n_(static_cast<int>(n)), full_((1u << n) - 1), w_(static_cast<std::size_t>(n * n)),
        allowed_(static_cast<std::size_t>(n * n * n)), f_(static_cast<std::size_t>((1u << n) * n)) {
    double largest = -std::numeric_limits<double>::infinity();
    for (int i = 0; i < n_; ++i)
      for (int j = 0; j < n_; ++j)
        if (i != j) largest = std::max(largest, log_s[i * n_ + j]);
    // Weights s_max / s_ij >= 1: a ring of N of them stays far inside the range of a double.
    for (int i = 0; i < n_ * n_; ++i) w_[static_cast<std::size_t>(i)] = std::exp(largest - log_s[i]);
    for (int a = 0; a < n_; ++a)
      for (int c = 0; c < n_; ++c) {
        unsigned bits = 0;
        if (c != a) {
          const double base = log_s[c * n_ + a];
          for (int k = 0; k < n_; ++k)
            if (k != a && k != c && std::fabs(log_s[c * n_ + k] - base) <= box && std::fabs(log_s[k * n_ + a] - base) <= box)
              bits |= 1u << k;
        }
        allowed_[static_cast<std::size_t>(a * n_ + c)] = bits;
      }
  }

  // The order (chain, then anchor) for uniforms u[0 .. N-1]; empty where no order is within the box.
  std::vector<std::int64_t> draw(const double* u) {
    std::vector<double> total(static_cast<std::size_t>(n_));
    double sum = 0;
    for (int a = 0; a < n_; ++a) {
      fill(a);
      total[static_cast<std::size_t>(a)] = start_weight(a);
      sum += total[static_cast<std::size_t>(a)];
    }
    if (!(sum > 0)) return {};
    const int a = pick(total, u[0] * sum);
    fill(a);
    std::vector<double> p(static_cast<std::size_t>(n_), 0.0);
    double start = 0;
    for (int c = 0; c < n_; ++c) {
      if (c == a) continue;
      p[static_cast<std::size_t>(c)] = w(a, c) * f(bit(a) | bit(c), c);
      start += p[static_cast<std::size_t>(c)];
    }
    int c = pick(p, u[1] * start);
    std::vector<std::int64_t> order = {c};
    unsigned mask = bit(a) | bit(c);
    for (int step = 2; mask != full_; ++step) {
      std::fill(p.begin(), p.end(), 0.0);
      double next = 0;
      for (unsigned free = allowed(a, c) & ~mask; free; free &= free - 1) {
        const int k = __builtin_ctz(free);
        p[static_cast<std::size_t>(k)] = w(c, k) * f(mask | bit(k), k);
        next += p[static_cast<std::size_t>(k)];
      }
      c = pick(p, u[step] * next);
      order.push_back(c);
      mask |= bit(c);
    }
    order.push_back(a);
    return order;
  }

 private:
  static unsigned bit(int i) { return 1u << i; }
  double w(int i, int j) const { return w_[static_cast<std::size_t>(i * n_ + j)]; }
  unsigned allowed(int a, int c) const { return allowed_[static_cast<std::size_t>(a * n_ + c)]; }
  double& f(unsigned mask, int c) { return f_[static_cast<std::size_t>(mask) * static_cast<std::size_t>(n_) + static_cast<std::size_t>(c)]; }

  void fill(int a) {
    for (unsigned mask = full_;; --mask) {
      if (mask & bit(a)) {
        for (unsigned rest = mask & ~bit(a); rest; rest &= rest - 1) {
          const int c = __builtin_ctz(rest);
          double v = 0;
          if (mask == full_) {
            v = w(c, a);
          } else {
            for (unsigned free = allowed(a, c) & ~mask; free; free &= free - 1) {
              const int k = __builtin_ctz(free);
              v += w(c, k) * f(mask | bit(k), k);
            }
          }
          f(mask, c) = v;
        }
      }
      if (mask == 0) break;
    }
  }
  double start_weight(int a) {
    double v = 0;
    for (int c = 0; c < n_; ++c)
      if (c != a) v += w(a, c) * f(bit(a) | bit(c), c);
    return v;
  }
  // The index whose cumulative weight first exceeds r (the last positive one against round-off).
  static int pick(const std::vector<double>& weights, double r) {
    int last = -1;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      if (weights[i] <= 0) continue;
      last = static_cast<int>(i);
      if (r < weights[i]) return last;
      r -= weights[i];
    }
    return last;
  }

  int n_;
  unsigned full_;
  std::vector<double> w_;
  std::vector<unsigned> allowed_;
  std::vector<double> f_;
};

// ln s_ij [b, N, N] float64 on the CPU, contiguous, floored far below any invariant a float64 event
// resolves (coincident particles).
at::Tensor log_invariants(const at::Tensor& events) {
  const std::int64_t b = events.size(0);
  const at::Tensor s = pair_invariant_matrix(events).cpu();
  const at::Tensor total = events.to(at::kDouble).select(2, 0).sum(1).pow(2).cpu();
  const at::Tensor log_s = at::log(at::maximum(s, 1e-300 * total.view({b, 1, 1}))).contiguous();
  PHASEGEN_CHECK(at::isfinite(log_s).all().item<bool>(), "chain order: expected finite events");
  return log_s;
}

void check_chain_events(const at::Tensor& events, const char* what) {
  check_events(events, what);
  PHASEGEN_CHECK(events.size(1) <= kChainMaxParticles, what, ": expected N <= ", kChainMaxParticles,
                 " particles (the chain lift's cost grows as 2^N), but got ", events.size(1));
}

}  // namespace

at::Tensor pair_invariant_matrix(const at::Tensor& events) {
  check_events(events, "pair_invariant_matrix");
  const at::Tensor p = events.to(at::kDouble);
  const at::Tensor e = p.select(2, 0);
  const at::Tensor u = p.narrow(2, 1, 3) / at::linalg_vector_norm(p.narrow(2, 1, 3), 2, {-1}, true, c10::nullopt);
  const at::Tensor d = (u.unsqueeze(2) - u.unsqueeze(1)).pow(2).sum(-1);
  return e.unsqueeze(2) * e.unsqueeze(1) * d;
}

ChainOrders minimax_chain_orders(const at::Tensor& events) {
  check_chain_events(events, "minimax_chain_orders");
  const std::int64_t b = events.size(0), n = events.size(1);
  const at::Tensor log_s = log_invariants(events);
  at::Tensor order = at::empty({b, n}, at::kLong), cost = at::empty({b}, at::kDouble);
  const double* data = log_s.data_ptr<double>();
  std::int64_t* out = order.data_ptr<std::int64_t>();
  double* out_cost = cost.data_ptr<double>();
  at::parallel_for(0, b, 64, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t e = begin; e < end; ++e) {
      OrderSearch search(data + e * n * n, n);
      const std::vector<std::int64_t> chain = search.run();
      std::copy(chain.begin(), chain.end(), out + e * n);
      out_cost[e] = search.cost();
    }
  });
  return {order.to(events.device()), cost};
}

double chain_box(const at::Tensor& events) { return minimax_chain_orders(events).cost.max().item<double>(); }

at::Tensor chain_history(const at::Tensor& events, double box, at::Generator& gen) {
  check_chain_events(events, "chain_history");
  PHASEGEN_CHECK(std::isfinite(box) && box > 0, "chain_history: expected a box > 0, but got ", box);
  const std::int64_t b = events.size(0), n = events.size(1);
  const at::Tensor log_s = log_invariants(events);
  // Every event's uniforms drawn before the threads start: the same orders for any thread count.
  const at::Tensor uniforms = at::rand({b, n}, gen, at::TensorOptions().dtype(at::kDouble).device(gen.device())).cpu().contiguous();
  at::Tensor order = at::empty({b, n}, at::kLong);
  const double* data = log_s.data_ptr<double>();
  const double* u = uniforms.data_ptr<double>();
  std::int64_t* out = order.data_ptr<std::int64_t>();
  at::parallel_for(0, b, 16, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t e = begin; e < end; ++e) {
      std::vector<std::int64_t> chain = HistoryDraw(data + e * n * n, n, box).draw(u + e * n);
      if (chain.empty()) chain = OrderSearch(data + e * n * n, n).run();
      std::copy(chain.begin(), chain.end(), out + e * n);
    }
  });
  return order.to(events.device());
}

at::Tensor in_order(const at::Tensor& events, const at::Tensor& order) {
  PHASEGEN_CHECK(order.dim() == 2 && order.size(0) == events.size(0) && order.size(1) == events.size(1),
                 "in_order: expected one order [N] per event, but got ", order.sizes(), " for events ", events.sizes());
  return events.gather(1, order.to(events.device()).unsqueeze(2).expand({-1, -1, 4}));
}

ChainSpace::ChainSpace(std::int64_t particles, double sqrt_s, double box, GaussianPrior standardisation)
    : particles_(particles), sqrt_s_(sqrt_s), box_(box), standardisation_(std::move(standardisation)) {
  PHASEGEN_CHECK(std::isfinite(box_) && box_ > 0, "antenna-chain chart: expected a box > 0, but got ", box_);
  PHASEGEN_CHECK(particles_ >= 3, "antenna-chain chart: expected N >= 3 particles, but got ", particles_);
  PHASEGEN_CHECK(std::isfinite(sqrt_s_) && sqrt_s_ > 0, "antenna-chain chart: expected sqrt_s > 0, but got ", sqrt_s_);
  const std::int64_t d = dimension(particles_);
  PHASEGEN_CHECK(standardisation_.mean.numel() == d && standardisation_.cholesky.sizes() == at::IntArrayRef({d, d}),
                 "antenna-chain chart: expected a standardisation of the ", d, " coordinates of N = ", particles_);
}

at::Tensor ChainSpace::chart(const at::Tensor& events, at::Generator& gen) {
  check_chain_events(events, "antenna-chain chart");
  const std::int64_t n = events.size(1);
  const at::Tensor p = events.to(at::kDouble);
  // Invariants and every azimuth but the first from the events as given (products of invariants,
  // frame-free); particle 1's direction and the first azimuth, which refer to the z axis of the
  // pair (1, N), in that pair's rest frame.
  const at::Tensor s = pair_invariant_matrix(p);
  const at::Tensor q = boost_to_rest(p.select(1, 0) + p.select(1, n - 1), s.select(1, 0).select(1, n - 1), p);
  const at::Tensor first = q.select(1, 0).narrow(1, 1, 3);
  const at::Tensor radius3 = at::linalg_vector_norm(at::randn({q.size(0), 3}, gen, q.options()), 2, {1}, true, c10::nullopt);
  std::vector<at::Tensor> angles, log_a, log_b;
  for (std::int64_t i = 1; i <= n - 2; ++i) {
    const at::Tensor& frame = i == 1 ? q : p;
    const at::Tensor pe = frame.select(1, i - 1), m = frame.select(1, n - 1), k = frame.select(1, i);
    const at::Tensor spm = s.select(1, i - 1).select(1, n - 1);
    log_a.push_back(at::log(s.select(1, i).select(1, n - 1) / spm));
    log_b.push_back(at::log(s.select(1, i).select(1, i - 1) / spm));
    const Reference ref = reference(i >= 2 ? frame.select(1, i - 2) : at::Tensor(), pe, m);
    const auto [e1, e2] = transverse_frame(pe, m, 0.5 * spm, ref.r, ref.r_p, ref.r_m, ref.r_r);
    // k_T . e = k . e, as e is orthogonal to both emitters: no subtraction of the large parts.
    angles.push_back(lifted_angle(at::atan2(-dot4(k, e2), -dot4(k, e1)), gen));
  }
  std::vector<at::Tensor> parts = {first / at::linalg_vector_norm(first, 2, {1}, true, c10::nullopt) * radius3, angles[0],
                                   at::stack(log_a, 1), at::stack(log_b, 1)};
  for (std::size_t i = 1; i < angles.size(); ++i) parts.push_back(angles[i]);
  return at::cat(parts, 1);
}

at::Tensor ChainSpace::event(const at::Tensor& chart, std::int64_t particles, double sqrt_s) {
  const std::int64_t n = particles, d = dimension(particles);
  PHASEGEN_CHECK(chart.dim() == 2 && chart.size(1) == d, "antenna-chain chart: expected coordinates [b, ", d,
                 "] for N = ", n, ", but got ", chart.sizes());
  const at::Tensor x = chart.to(at::kDouble);
  at::Tensor direction = x.narrow(1, 0, 3);
  const at::Tensor norm = at::linalg_vector_norm(direction, 2, {1}, true, c10::nullopt);
  // A zero 3-vector (probability zero) reads as the z axis rather than as NaN.
  at::Tensor z = at::zeros_like(direction);
  z.select(1, 2).fill_(1.0);
  direction = at::where(norm > 0, direction / norm.clamp_min(std::numeric_limits<double>::min()), z);
  std::vector<at::Tensor> q(static_cast<std::size_t>(n));
  q[0] = massless(0.5 * direction);
  q[static_cast<std::size_t>(n - 1)] = massless(-0.5 * direction);
  const at::Tensor log_a = x.narrow(1, 5, n - 2), log_b = x.narrow(1, 5 + (n - 2), n - 2);
  const at::Tensor& m = q[static_cast<std::size_t>(n - 1)];
  for (std::int64_t i = 1; i <= n - 2; ++i) {
    const at::Tensor angle = i == 1 ? x.narrow(1, 3, 2) : x.narrow(1, 5 + 2 * (n - 2) + 2 * (i - 2), 2);
    const at::Tensor phi = at::atan2(angle.select(1, 1), angle.select(1, 0));
    const at::Tensor& pe = q[static_cast<std::size_t>(i - 1)];
    const at::Tensor spm = pair_invariant(pe, m);
    const at::Tensor a = at::exp(log_a.select(1, i - 1)), bb = at::exp(log_b.select(1, i - 1));
    const Reference ref = reference(i >= 2 ? q[static_cast<std::size_t>(i - 2)] : at::Tensor(), pe, m);
    const auto [e1, e2] = transverse_frame(pe, m, 0.5 * spm, ref.r, ref.r_p, ref.r_m, ref.r_r);
    const at::Tensor kt = at::sqrt(a * bb * spm).unsqueeze(1) * (at::cos(phi).unsqueeze(1) * e1 + at::sin(phi).unsqueeze(1) * e2);
    const at::Tensor k = a.unsqueeze(1) * pe + bb.unsqueeze(1) * m + kt;
    q[static_cast<std::size_t>(i)] = massless(k.narrow(1, 1, 3));
  }
  std::vector<at::Tensor> momenta;
  for (const at::Tensor& v : q) momenta.push_back(v.narrow(1, 1, 3));
  return rambo_map(at::stack(momenta, 1), sqrt_s);
}

namespace {

// ln a, ln b of a chart [b, 4N - 5] read through the normal quantile of their place in the box,
// w = sqrt(2) erfinv(x / box) (uniform in the box is N(0, 1) in w; clamped just inside the box for
// an event whose order had to leave it), and back, x = box erf(w / sqrt(2)).
at::Tensor squashed(const at::Tensor& chart, std::int64_t particles, double box) {
  at::Tensor x = chart.clone();
  at::Tensor logs = x.narrow(1, 5, 2 * (particles - 2));
  logs.copy_(std::sqrt(2.0) * at::erfinv((logs / box).clamp(-1.0 + 1e-15, 1.0 - 1e-15)));
  return x;
}

at::Tensor unsquashed(const at::Tensor& state, std::int64_t particles, double box) {
  at::Tensor x = state.clone();
  at::Tensor logs = x.narrow(1, 5, 2 * (particles - 2));
  logs.copy_(box * at::erf(logs / std::sqrt(2.0)));
  return x;
}

}  // namespace

GaussianPrior ChainSpace::fit(const at::Tensor& ordered_events, double box, at::Generator& gen) {
  return GaussianPrior::fit_rows(squashed(chart(ordered_events, gen), ordered_events.size(1), box));
}

at::Tensor ChainSpace::encode(const at::Tensor& events, at::Generator& gen) const {
  PHASEGEN_CHECK(events.dim() == 3 && events.size(1) == particles_, "antenna-chain chart: expected events of N = ",
                 particles_, ", but got ", events.sizes());
  const at::Tensor u = squashed(chart(events, gen), particles_, box_);
  const at::Tensor l = standardisation_.cholesky.to(u.device());
  const at::Tensor s = at::linalg_solve_triangular(l, (u - standardisation_.mean.to(u.device())).t(), /*upper=*/false).t();
  return s.unsqueeze(1).to(at::kFloat);
}

at::Tensor ChainSpace::decode(const at::Tensor& state) const {
  const std::int64_t d = dimension(particles_);
  PHASEGEN_CHECK(state.dim() == 3 && state.size(1) == 1 && state.size(2) == d, "antenna-chain chart: expected states [b, 1, ",
                 d, "], but got ", state.sizes());
  const at::Tensor s = state.select(1, 0).to(at::kDouble);
  const at::Tensor u = standardisation_.mean.to(s.device()) + at::matmul(s, standardisation_.cholesky.to(s.device()).t());
  return event(unsquashed(u, particles_, box_), particles_, sqrt_s_);
}

std::string ChainSpace::description() const {
  return detail::concat("antenna-chain chart (N = ", particles_, ", ", dimension(particles_),
                        " coordinates, box |ln a|, |ln b| <= ", box_, ", ring-weighted chain histories, particles shuffled on output), sqrt_s = ",
                        sqrt_s_, " GeV");
}

}  // namespace phasegen
