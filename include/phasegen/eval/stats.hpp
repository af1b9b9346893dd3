// Statistical tests used to check samplers and models against an exact truth.
//
//   auto ks = phasegen::ks_test(x, [](const at::Tensor& t) { return t; });  // x ~ U(0, 1)?
//   if (ks.p_value < 1e-3) ...                                              // reject
//
// All inputs are 1-D tensors of any floating type and device; results are plain doubles.
#pragma once

#include <ATen/ATen.h>

#include <functional>

namespace phasegen {

struct KsResult {
  double statistic;  ///< sup |F_a - F_b|
  double p_value;    ///< asymptotic Kolmogorov p-value with Stephens' small-sample correction
};

/// One-sample Kolmogorov-Smirnov test of `sample` against the continuous CDF `cdf`.
KsResult ks_test(const at::Tensor& sample, const std::function<at::Tensor(const at::Tensor&)>& cdf);

/// Two-sample Kolmogorov-Smirnov test.
KsResult ks_test(const at::Tensor& a, const at::Tensor& b);

/// 1-D Wasserstein distance W1 = int |F_a - F_b| dx between two samples, in the samples' unit.
double wasserstein1(const at::Tensor& a, const at::Tensor& b);

struct Chi2Result {
  double chi2;     ///< two-sample chi^2 over the non-empty bins
  int ndf;         ///< non-empty bins - 1
  double p_value;  ///< P(chi^2_ndf > chi2)
};

/// Binned two-sample chi^2 test for samples of any sizes N and M:
/// chi2 = sum_i (sqrt(M/N) n_i - sqrt(N/M) m_i)^2 / (n_i + m_i), with `bins` bins holding equal
/// fractions of `a` (the reference, e.g. the truth).
Chi2Result chi2_test(const at::Tensor& a, const at::Tensor& b, int bins = 50);

/// The two-sample figures with the second sample weighted (weights [m] >= 0, not all 0), as for
/// reweighted events: its empirical CDF weighted; the KS p-value taken at its effective size
/// (sum w)^2 / sum w^2; chi2 for a weighted against an unweighted histogram (Gagunashvili,
/// arXiv:physics/0605123): sum_i (W n_i - N w_i)^2 / (W^2 n_i + N^2 s_i) with w_i, s_i the bin's
/// sums of weights and squared weights, W their total, ndf = filled bins - 1.
KsResult ks_test(const at::Tensor& a, const at::Tensor& b, const at::Tensor& b_weights);
double wasserstein1(const at::Tensor& a, const at::Tensor& b, const at::Tensor& b_weights);
Chi2Result chi2_test(const at::Tensor& a, const at::Tensor& b, int bins, const at::Tensor& b_weights);

/// The effective sample size (sum w)^2 / sum w^2 of weights [m].
double effective_size(const at::Tensor& weights);

/// Survival function of the Kolmogorov distribution, P(K > lambda).
double kolmogorov_survival(double lambda);

/// Regularised incomplete beta I_x(a, b), the CDF of Beta(a, b), elementwise for x in [0, 1].
at::Tensor beta_cdf(const at::Tensor& x, double a, double b);

/// Regularised lower incomplete gamma P(a, x), the CDF of Gamma(a, 1), elementwise for x >= 0.
at::Tensor gamma_cdf(const at::Tensor& x, double a);

}  // namespace phasegen
