#include "phasegen/eval/stats.hpp"

#include <cfloat>
#include <utility>
#include <cmath>
#include <vector>

#include "phasegen/core/error.hpp"

namespace phasegen {

namespace {

constexpr double kPi = 3.14159265358979323846;

// The values of a sample as a contiguous float64 CPU tensor: searchsorted and bucketize copy (and
// warn) otherwise, and sort keeps a strided input's strides (a column of an event tensor is strided).
at::Tensor cpu_values(const at::Tensor& x) { return x.detach().to(at::kCPU, at::kDouble).contiguous(); }

at::Tensor sorted_cpu(const at::Tensor& x, const char* what) {
  PHASEGEN_CHECK(x.dim() == 1 && x.numel() > 0, what, ": expected a non-empty 1-D sample, but got shape ",
                 x.sizes());
  return std::get<0>(cpu_values(x).sort());
}

KsResult make_result(double d, double effective_n) {
  const double root = std::sqrt(effective_n);
  return {d, kolmogorov_survival((root + 0.12 + 0.11 / root) * d)};
}

// Continued fraction of I_x(a, b) (modified Lentz), valid for x < (a + 1) / (a + b + 2).
double beta_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  double c = 1.0;
  double d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + aa * d;
    c = 1.0 + aa / c;
    if (std::fabs(d) < kTiny) d = kTiny;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + aa * d;
    c = 1.0 + aa / c;
    if (std::fabs(d) < kTiny) d = kTiny;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < 4 * DBL_EPSILON) break;
  }
  return h;
}

double beta_cdf_scalar(double x, double a, double b) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
                           b * std::log1p(-x);
  if (x < (a + 1.0) / (a + b + 2.0)) return std::exp(log_front) * beta_fraction(a, b, x) / a;
  return 1.0 - std::exp(log_front) * beta_fraction(b, a, 1.0 - x) / b;
}

}  // namespace

double kolmogorov_survival(double lambda) {
  if (lambda <= 0.0) return 1.0;
  if (lambda < 1.0) {
    // Jacobi-transformed series, fast for small lambda.
    double sum = 0.0;
    for (int k = 1; k <= 50; k += 2) {
      sum += std::exp(-k * k * kPi * kPi / (8.0 * lambda * lambda));
    }
    return 1.0 - std::sqrt(2.0 * kPi) / lambda * sum;
  }
  double sum = 0.0;
  for (int k = 1; k <= 100; ++k) {
    const double term = std::exp(-2.0 * k * k * lambda * lambda);
    sum += (k % 2 == 1 ? term : -term);
    if (term < 1e-300) break;
  }
  return std::min(1.0, std::max(0.0, 2.0 * sum));
}

KsResult ks_test(const at::Tensor& sample,
                 const std::function<at::Tensor(const at::Tensor&)>& cdf) {
  at::Tensor x = sorted_cpu(sample, "ks_test");
  const auto n = x.numel();
  at::Tensor f = cdf(x).to(at::kCPU, at::kDouble);
  at::Tensor i = at::arange(1, n + 1, at::kDouble);
  const double above = (i / n - f).max().item<double>();
  const double below = (f - (i - 1) / n).max().item<double>();
  return make_result(std::max(above, below), static_cast<double>(n));
}

KsResult ks_test(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor xa = sorted_cpu(a, "ks_test");
  at::Tensor xb = sorted_cpu(b, "ks_test");
  const double na = static_cast<double>(xa.numel());
  const double nb = static_cast<double>(xb.numel());
  at::Tensor all = at::cat({xa, xb});
  at::Tensor fa = at::searchsorted(xa, all, false, /*right=*/true).to(at::kDouble) / na;
  at::Tensor fb = at::searchsorted(xb, all, false, /*right=*/true).to(at::kDouble) / nb;
  const double d = (fa - fb).abs().max().item<double>();
  return make_result(d, na * nb / (na + nb));
}

double wasserstein1(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor xa = sorted_cpu(a, "wasserstein1");
  at::Tensor xb = sorted_cpu(b, "wasserstein1");
  at::Tensor all = std::get<0>(at::cat({xa, xb}).sort());
  at::Tensor left = all.narrow(0, 0, all.numel() - 1);
  at::Tensor widths = all.narrow(0, 1, all.numel() - 1) - left;
  at::Tensor fa = at::searchsorted(xa, left, false, true).to(at::kDouble) / static_cast<double>(xa.numel());
  at::Tensor fb = at::searchsorted(xb, left, false, true).to(at::kDouble) / static_cast<double>(xb.numel());
  return ((fa - fb).abs() * widths).sum().item<double>();
}

namespace {

// A weighted sample sorted, with the cumulative share of its weight at each value: (x, F(x)).
std::pair<at::Tensor, at::Tensor> weighted_ecdf(const at::Tensor& b, const at::Tensor& weights, const char* what) {
  PHASEGEN_CHECK(weights.dim() == 1 && weights.numel() == b.numel(), what, ": expected one weight per value, but got ",
                 weights.sizes(), " for ", b.sizes());
  const at::Tensor w = weights.detach().to(at::kCPU, at::kDouble);
  PHASEGEN_CHECK((at::isfinite(w) & (w >= 0)).all().item<bool>() && w.sum().item<double>() > 0, what,
                 ": expected finite weights >= 0, not all 0");
  auto [x, order] = cpu_values(b).sort();
  const at::Tensor cumulative = w.index_select(0, order).cumsum(0);
  return {x, cumulative / cumulative[-1]};
}

// The weighted CDF (x, F) at `points`: the share of weight at values <= each point.
at::Tensor weighted_cdf_at(const std::pair<at::Tensor, at::Tensor>& ecdf, const at::Tensor& points) {
  const at::Tensor index = at::searchsorted(ecdf.first, points, false, /*right=*/true);
  const at::Tensor padded = at::cat({at::zeros({1}, at::kDouble), ecdf.second});
  return padded.index_select(0, index);
}

double chi2_p_value(double chi2, int ndf) {
  return ndf > 0 ? at::special_gammaincc(at::full({1}, ndf / 2.0, at::kDouble), at::full({1}, chi2 / 2.0, at::kDouble))
                       .item<double>()
                 : 1.0;
}

}  // namespace

double effective_size(const at::Tensor& weights) {
  const at::Tensor w = weights.detach().to(at::kCPU, at::kDouble);
  const double sum = w.sum().item<double>(), squares = w.pow(2).sum().item<double>();
  return squares > 0 ? sum * sum / squares : 0.0;
}

KsResult ks_test(const at::Tensor& a, const at::Tensor& b, const at::Tensor& b_weights) {
  at::Tensor xa = sorted_cpu(a, "ks_test");
  const auto eb = weighted_ecdf(b, b_weights, "ks_test");
  const double na = static_cast<double>(xa.numel()), nb = effective_size(b_weights);
  at::Tensor all = at::cat({xa, eb.first});
  at::Tensor fa = at::searchsorted(xa, all, false, /*right=*/true).to(at::kDouble) / na;
  const double d = (fa - weighted_cdf_at(eb, all)).abs().max().item<double>();
  return make_result(d, na * nb / (na + nb));
}

double wasserstein1(const at::Tensor& a, const at::Tensor& b, const at::Tensor& b_weights) {
  at::Tensor xa = sorted_cpu(a, "wasserstein1");
  const auto eb = weighted_ecdf(b, b_weights, "wasserstein1");
  at::Tensor all = std::get<0>(at::cat({xa, eb.first}).sort());
  at::Tensor left = all.narrow(0, 0, all.numel() - 1);
  at::Tensor widths = all.narrow(0, 1, all.numel() - 1) - left;
  at::Tensor fa = at::searchsorted(xa, left, false, true).to(at::kDouble) / static_cast<double>(xa.numel());
  return ((fa - weighted_cdf_at(eb, left)).abs() * widths).sum().item<double>();
}

Chi2Result chi2_test(const at::Tensor& a, const at::Tensor& b, int bins, const at::Tensor& b_weights) {
  PHASEGEN_CHECK(bins >= 2, "chi2_test: expected at least 2 bins, but got ", bins);
  at::Tensor xa = sorted_cpu(a, "chi2_test");
  PHASEGEN_CHECK(b_weights.dim() == 1 && b_weights.numel() == b.numel(), "chi2_test: expected one weight per value");
  const at::Tensor xb = cpu_values(b), w = b_weights.detach().to(at::kCPU, at::kDouble);
  at::Tensor levels = at::arange(1, bins, at::kDouble) / bins;
  at::Tensor edges = std::get<0>(at::unique_consecutive(at::quantile(xa, levels)));
  const std::int64_t cells = edges.numel() + 1;
  at::Tensor n = at::bincount(at::bucketize(xa, edges, false, true), {}, cells).to(at::kDouble);
  const at::Tensor idx = at::bucketize(xb, edges, false, true);
  at::Tensor m = at::bincount(idx, w, cells).to(at::kDouble);
  at::Tensor s = at::bincount(idx, w.pow(2), cells).to(at::kDouble);
  const double nn = static_cast<double>(xa.numel()), ww = w.sum().item<double>();
  PHASEGEN_CHECK(ww > 0, "chi2_test: expected weights not all 0");
  at::Tensor filled = (n + m) > 0;
  at::Tensor denominator = (ww * ww * n + nn * nn * s).clamp_min(1e-300);
  const double chi2 = ((ww * n - nn * m).pow(2) / denominator).masked_select(filled).sum().item<double>();
  const int ndf = static_cast<int>(filled.sum().item<std::int64_t>()) - 1;
  return {chi2, ndf, chi2_p_value(chi2, ndf)};
}

Chi2Result chi2_test(const at::Tensor& a, const at::Tensor& b, int bins) {
  PHASEGEN_CHECK(bins >= 2, "chi2_test: expected at least 2 bins, but got ", bins);
  at::Tensor xa = sorted_cpu(a, "chi2_test");
  at::Tensor xb = sorted_cpu(b, "chi2_test");
  at::Tensor levels = at::arange(1, bins, at::kDouble) / bins;
  at::Tensor edges = std::get<0>(at::unique_consecutive(at::quantile(xa, levels)));
  auto counts = [&](const at::Tensor& x) {
    at::Tensor idx = at::bucketize(x, edges, false, /*right=*/true);
    return at::bincount(idx, {}, edges.numel() + 1).to(at::kDouble);
  };
  at::Tensor n = counts(xa), m = counts(xb);
  const double nn = static_cast<double>(xa.numel()), mm = static_cast<double>(xb.numel());
  at::Tensor filled = (n + m) > 0;
  at::Tensor diff = n * std::sqrt(mm / nn) - m * std::sqrt(nn / mm);
  const double chi2 = (diff.pow(2) / (n + m).clamp_min(1.0)).masked_select(filled).sum().item<double>();
  const int ndf = static_cast<int>(filled.sum().item<std::int64_t>()) - 1;
  const double p = ndf > 0 ? at::special_gammaincc(at::full({1}, ndf / 2.0, at::kDouble),
                                                    at::full({1}, chi2 / 2.0, at::kDouble))
                                 .item<double>()
                           : 1.0;
  return {chi2, ndf, p};
}

at::Tensor beta_cdf(const at::Tensor& x, double a, double b) {
  PHASEGEN_CHECK(a > 0 && b > 0, "beta_cdf: expected a > 0 and b > 0, but got a = ", a, ", b = ", b);
  at::Tensor xc = x.detach().to(at::kCPU, at::kDouble).contiguous();
  at::Tensor out = at::empty_like(xc);
  const double* in = xc.data_ptr<double>();
  double* res = out.data_ptr<double>();
  for (int64_t k = 0; k < xc.numel(); ++k) res[k] = beta_cdf_scalar(in[k], a, b);
  return out.to(x.device());
}

at::Tensor gamma_cdf(const at::Tensor& x, double a) {
  PHASEGEN_CHECK(a > 0, "gamma_cdf: expected a > 0, but got ", a);
  return at::special_gammainc(at::full_like(x, a), x);
}

}  // namespace phasegen
