#include "phasegen/physics/observables.hpp"

#include <algorithm>
#include <vector>

#include "phasegen/core/error.hpp"

namespace phasegen {

namespace {

constexpr std::int64_t kPairChunkEntries = 1 << 22;

void check_events(const at::Tensor& p, const char* what) {
  PHASEGEN_CHECK(p.dim() == 3 && p.size(2) == 4, what,
                 ": expected events of shape [batch, N, 4], but got ", p.sizes());
}

}  // namespace

at::Tensor energies(const at::Tensor& p) {
  check_events(p, "energies");
  return p.select(2, 0);
}

at::Tensor sorted_energies(const at::Tensor& p) {
  return std::get<0>(energies(p).sort(1, /*descending=*/true));
}

at::Tensor dalitz_energies(const at::Tensor& p) {
  check_events(p, "dalitz_energies");
  PHASEGEN_CHECK(p.size(1) == 3, "dalitz_energies: expected N = 3 particles, but got ", p.size(1));
  return p.select(2, 0).narrow(1, 0, 2);
}

at::Tensor pair_dots(const at::Tensor& p) {
  check_events(p, "pair_dots");
  // For massless particles p_i.p_j = E_i E_j |u_i - u_j|^2 / 2 with unit vectors u: no
  // cancellation for nearly collinear pairs, where E_i E_j - p_i.p_j loses all digits.
  const auto n = p.size(1);
  const std::int64_t chunk = std::max<std::int64_t>(1, kPairChunkEntries / (n * n));
  std::vector<at::Tensor> parts;
  for (std::int64_t start = 0; start < p.size(0); start += chunk) {
    at::Tensor pc = p.narrow(0, start, std::min(chunk, p.size(0) - start));
    at::Tensor e = pc.select(2, 0);
    at::Tensor v = pc.narrow(2, 1, 3);
    at::Tensor u = v / at::linalg_vector_norm(v, 2, {2}, true, c10::nullopt).clamp_min(1e-300);
    at::Tensor diff = u.unsqueeze(2) - u.unsqueeze(1);
    parts.push_back((diff * diff).sum(3) * (e.unsqueeze(2) * e.unsqueeze(1)) * 0.5);
  }
  return parts.empty() ? at::empty({0, n, n}, p.options()) : at::cat(parts, 0);
}

at::Tensor min_pair_dot(const at::Tensor& p) {
  check_events(p, "min_pair_dot");
  PHASEGEN_CHECK(p.size(1) >= 2, "min_pair_dot: expected N >= 2, but got ", p.size(1));
  at::Tensor dots = pair_dots(p);
  const auto n = p.size(1);
  at::Tensor diagonal = at::eye(n, at::TensorOptions().dtype(at::kBool).device(p.device()));
  return std::get<0>(dots.masked_fill(diagonal, INFINITY).flatten(1).min(1));
}

std::vector<std::pair<std::int64_t, std::int64_t>> particle_pairs(std::int64_t particles) {
  std::vector<std::pair<std::int64_t, std::int64_t>> pairs;
  for (std::int64_t i = 0; i < particles; ++i) {
    for (std::int64_t j = i + 1; j < particles; ++j) pairs.emplace_back(i, j);
  }
  return pairs;
}

namespace {

// Picks the (i < j) entries of a [batch, N, N] matrix in particle_pairs order.
at::Tensor upper_pairs(const at::Tensor& matrix) {
  const auto n = matrix.size(1);
  at::Tensor idx = at::triu_indices(n, n, 1, at::TensorOptions().dtype(at::kLong).device(matrix.device()));
  return matrix.index({at::indexing::Slice(), idx[0], idx[1]});
}

}  // namespace

at::Tensor pair_invariants(const at::Tensor& p) { return upper_pairs(pair_dots(p)) * 2.0; }

at::Tensor pair_cosines(const at::Tensor& p) {
  check_events(p, "pair_cosines");
  at::Tensor v = p.narrow(2, 1, 3);
  at::Tensor unit = v / at::linalg_vector_norm(v, 2, {2}, true, c10::nullopt).clamp_min(1e-300);
  return upper_pairs(at::matmul(unit, unit.transpose(1, 2)));
}

at::Tensor log10_min_pair_dot(const at::Tensor& p, double sqrt_s) {
  return at::log10(min_pair_dot(p) / (sqrt_s * sqrt_s));
}

at::Tensor muon_rosenblatt(const at::Tensor& p, double sqrt_s) {
  check_events(p, "muon_rosenblatt");
  PHASEGEN_CHECK(p.size(1) == 3, "muon_rosenblatt: expected N = 3 particles, but got ", p.size(1));
  at::Tensor e1 = p.select(1, 0).select(1, 0) / sqrt_s;
  at::Tensor e2 = p.select(1, 1).select(1, 0) / sqrt_s;
  at::Tensor v = e1 + e2 - 0.5;
  at::Tensor u1 = 16.0 * e1.pow(3) * (1.0 - e1);
  at::Tensor u2 = v * v * (3.0 - 4.0 * v) / (e1 * e1 * (3.0 - 4.0 * e1));
  return at::stack({u1, u2}, 1);
}

namespace {

constexpr std::int64_t kExactThrustMax = 12;
constexpr std::int64_t kThrustChunkEntries = 1 << 22;

at::Tensor exact_thrust(const at::Tensor& v, const at::Tensor& scalar_sum) {
  const auto n = v.size(1);
  const std::int64_t subsets = std::int64_t{1} << (n - 1);
  // In the CM frame a hemisphere and its complement carry opposite momenta, so the subsets
  // without the last particle cover every split: T = 2 max_S |sum_S p_i| / sum |p_i|.
  at::Tensor bits = at::arange(subsets, at::TensorOptions().dtype(at::kLong).device(v.device()));
  at::Tensor shifts = at::arange(n, at::TensorOptions().dtype(at::kLong).device(v.device()));
  at::Tensor masks = bits.unsqueeze(1).bitwise_right_shift(shifts).bitwise_and(1).to(v.scalar_type());  // [K, N]
  const std::int64_t chunk = std::max<std::int64_t>(1, kThrustChunkEntries / subsets);
  std::vector<at::Tensor> parts;
  for (std::int64_t start = 0; start < v.size(0); start += chunk) {
    at::Tensor vc = v.narrow(0, start, std::min(chunk, v.size(0) - start));
    at::Tensor sums = at::matmul(masks, vc);  // [b, K, 3]
    parts.push_back(std::get<0>(at::linalg_vector_norm(sums, 2, {2}, false, c10::nullopt).max(1)));
  }
  return at::cat(parts) * 2.0 / scalar_sum;
}

at::Tensor iterated_thrust(const at::Tensor& v, const at::Tensor& scalar_sum) {
  constexpr int kStarts = 4;
  constexpr int kIterations = 30;
  at::Tensor norms = at::linalg_vector_norm(v, 2, {2}, false, c10::nullopt);
  at::Tensor leading = std::get<1>(norms.topk(std::min<std::int64_t>(kStarts, v.size(1)), 1));
  at::Tensor best = at::zeros({v.size(0)}, v.options());
  for (std::int64_t s = 0; s < leading.size(1); ++s) {
    at::Tensor axis = v.gather(1, leading.select(1, s).view({-1, 1, 1}).expand({-1, 1, 3})).squeeze(1);
    for (int it = 0; it < kIterations; ++it) {
      at::Tensor sign = at::sign(at::matmul(v, axis.unsqueeze(2))).squeeze(2);
      axis = (v * sign.unsqueeze(2)).sum(1);
      axis = axis / at::linalg_vector_norm(axis, 2, {1}, true, c10::nullopt).clamp_min(1e-300);
    }
    at::Tensor value = at::matmul(v, axis.unsqueeze(2)).squeeze(2).abs().sum(1);
    best = at::maximum(best, value);
  }
  return best / scalar_sum;
}

}  // namespace

at::Tensor thrust(const at::Tensor& p) {
  check_events(p, "thrust");
  at::Tensor v = p.narrow(2, 1, 3);
  at::Tensor scalar_sum = at::linalg_vector_norm(v, 2, {2}, false, c10::nullopt).sum(1);
  return p.size(1) <= kExactThrustMax ? exact_thrust(v, scalar_sum) : iterated_thrust(v, scalar_sum);
}

at::Tensor c_parameter(const at::Tensor& p) {
  check_events(p, "c_parameter");
  at::Tensor v = p.narrow(2, 1, 3);
  at::Tensor norms = at::linalg_vector_norm(v, 2, {2}, true, c10::nullopt).clamp_min(1e-300);
  at::Tensor theta = at::matmul((v / norms).transpose(1, 2), v) / norms.sum(1, true);  // [batch, 3, 3]
  at::Tensor trace_sq = (theta * theta.transpose(1, 2)).sum({1, 2});
  return 1.5 * (1.0 - trace_sq);
}

std::vector<NamedObservable> standard_observables(std::int64_t particles) {
  std::vector<NamedObservable> list;
  const std::int64_t n = particles;
  auto add = [&list](std::string name, std::string unit, std::function<at::Tensor(const at::Tensor&, double)> f) {
    list.push_back({std::move(name), std::move(unit), std::move(f)});
  };
  const bool small = n <= 12;
  for (std::int64_t i = 0; i < n && small; ++i) {
    add("E_" + std::to_string(i + 1), "GeV", [i](const at::Tensor& p, double) { return energies(p).select(1, i); });
  }
  for (std::int64_t k = 0; k < n; ++k) {
    if (!small && k >= 3 && k != n - 1) continue;
    add("E_(" + std::to_string(k + 1) + ")", "GeV",
        [k](const at::Tensor& p, double) { return sorted_energies(p).select(1, k); });
  }
  const auto pairs = particle_pairs(n);
  if (n <= 5) {
    for (std::size_t k = 0; k < pairs.size(); ++k) {
      const std::string ij = std::to_string(pairs[k].first + 1) + std::to_string(pairs[k].second + 1);
      add("s_" + ij + "/s", "", [k](const at::Tensor& p, double sqrt_s) {
        return pair_invariants(p).select(1, static_cast<std::int64_t>(k)) / (sqrt_s * sqrt_s);
      });
      if (n <= 4) {
        add("cos_" + ij, "",
            [k](const at::Tensor& p, double) { return pair_cosines(p).select(1, static_cast<std::int64_t>(k)); });
      }
    }
  } else {
    add("max s_ij/s", "", [](const at::Tensor& p, double sqrt_s) {
      return std::get<0>(pair_invariants(p).max(1)) / (sqrt_s * sqrt_s);
    });
    add("min cos_ij", "", [](const at::Tensor& p, double) { return std::get<0>(pair_cosines(p).min(1)); });
  }
  add("log10(tau/s)", "", [](const at::Tensor& p, double sqrt_s) { return log10_min_pair_dot(p, sqrt_s); });
  add("thrust", "", [](const at::Tensor& p, double) { return thrust(p); });
  add("C", "", [](const at::Tensor& p, double) { return c_parameter(p); });
  if (n == 3) {
    add("u1", "", [](const at::Tensor& p, double sqrt_s) { return muon_rosenblatt(p, sqrt_s).select(1, 0); });
    add("u2", "", [](const at::Tensor& p, double sqrt_s) { return muon_rosenblatt(p, sqrt_s).select(1, 1); });
  }
  return list;
}

at::Tensor conservation_violation(const at::Tensor& p, double sqrt_s) {
  check_events(p, "conservation_violation");
  at::Tensor total = p.sum(1);  // [batch, 4]
  total.select(1, 0).sub_(sqrt_s);
  return std::get<0>(total.abs().max(1)) / sqrt_s;
}

at::Tensor table_one_violation(const at::Tensor& p, double sqrt_s) {
  check_events(p, "table_one_violation");
  at::Tensor median = std::get<0>(p.select(2, 0).median(1));  // [batch]
  at::Tensor total = p.sum(1);                                 // [batch, 4]
  total.select(1, 0).sub_(sqrt_s);
  return (total.abs() / median.unsqueeze(1)).mean(0);
}

at::Tensor mass_violation(const at::Tensor& p, double sqrt_s) {
  check_events(p, "mass_violation");
  at::Tensor norm = at::linalg_vector_norm(p.narrow(2, 1, 3), 2, {2}, false, c10::nullopt);
  return std::get<0>((p.select(2, 0) - norm).abs().max(1)) / sqrt_s;
}

std::vector<NamedObservable> named_observables(std::int64_t particles, const std::vector<std::string>& names) {
  std::vector<NamedObservable> all = standard_observables(particles);
  if (names.empty()) return all;
  std::vector<NamedObservable> chosen;
  for (const auto& name : names) {
    auto it = std::find_if(all.begin(), all.end(), [&](const NamedObservable& o) { return o.name == name; });
    if (it == all.end()) {
      std::string known;
      for (const auto& o : all) known += (known.empty() ? "" : ", ") + o.name;
      throw Error(detail::concat("--observables: unknown observable '", name, "' for N = ", particles, " (known: ",
                                 known, ")"));
    }
    chosen.push_back(*it);
  }
  return chosen;
}

}  // namespace phasegen
