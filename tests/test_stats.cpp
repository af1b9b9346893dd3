#include "phasegen/eval/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "phasegen/models/assignment.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

TEST(KolmogorovSmirnov, SurvivalFunctionMatchesTabulatedValues) {
  // Standard table of the Kolmogorov distribution.
  EXPECT_NEAR(kolmogorov_survival(1.3581), 0.05, 2e-4);
  EXPECT_NEAR(kolmogorov_survival(1.6276), 0.01, 1e-4);
  EXPECT_NEAR(kolmogorov_survival(0.8276), 0.5, 1e-3);
  EXPECT_NEAR(kolmogorov_survival(0.3), 1.0, 1e-4);
  EXPECT_EQ(kolmogorov_survival(0.0), 1.0);
  // The two series agree where they meet.
  EXPECT_NEAR(kolmogorov_survival(1.0 - 1e-12), kolmogorov_survival(1.0), 1e-10);
}

TEST(KolmogorovSmirnov, OneSampleAcceptsTruthAndRejectsAShift) {
  at::Generator gen = make_generator(8);
  at::Tensor u = at::rand({20000}, gen, at::kDouble);
  auto identity = [](const at::Tensor& x) { return x.clamp(0.0, 1.0); };
  EXPECT_GT(ks_test(u, identity).p_value, 1e-3);
  EXPECT_LT(ks_test(u * 0.98, identity).p_value, 1e-6);
  // D of a sample of one point at 0.5 against U(0,1) is 1/2.
  EXPECT_NEAR(ks_test(at::full({1}, 0.5, at::kDouble), identity).statistic, 0.5, 1e-15);
}

TEST(KolmogorovSmirnov, TwoSampleAcceptsTwinsAndRejectsDifferentLaws) {
  at::Generator gen = make_generator(9);
  at::Tensor a = at::randn({10000}, gen, at::kDouble);
  at::Tensor b = at::randn({8000}, gen, at::kDouble);
  EXPECT_GT(ks_test(a, b).p_value, 1e-3);
  EXPECT_LT(ks_test(a, b * 1.1 + 0.05).p_value, 1e-4);
  at::Tensor x = at::tensor(std::vector<double>{1, 2, 3}, at::kDouble);
  at::Tensor y = at::tensor(std::vector<double>{4, 5}, at::kDouble);
  EXPECT_DOUBLE_EQ(ks_test(x, y).statistic, 1.0);
}

TEST(Distributions, BetaCdfMatchesClosedForms) {
  at::Tensor x = at::linspace(0.0, 1.0, 101, at::kDouble);
  for (int m : {1, 2, 5, 30}) {
    // Beta(2, m): 1 - (1-x)^(m+1) - (m+1) x (1-x)^m.
    at::Tensor expected = 1.0 - at::pow(1.0 - x, m + 1) - (m + 1) * x * at::pow(1.0 - x, m);
    EXPECT_LE(test::max_abs(beta_cdf(x, 2.0, m) - expected), 1e-13) << "m=" << m;
  }
  // Beta(1/2, 1/2) is the arcsine law.
  at::Tensor arcsine = 2.0 / 3.14159265358979323846 * at::asin(at::sqrt(x));
  EXPECT_LE(test::max_abs(beta_cdf(x, 0.5, 0.5) - arcsine), 1e-12);
  EXPECT_ERROR_CONTAINS(beta_cdf(x, 0.0, 1.0), "expected a > 0 and b > 0");
}

TEST(Distributions, GammaCdfMatchesClosedForm) {
  at::Tensor x = at::linspace(0.0, 20.0, 201, at::kDouble);
  EXPECT_LE(test::max_abs(gamma_cdf(x, 2.0) - (1.0 - (1.0 + x) * at::exp(-x))), 1e-14);
}

}  // namespace
}  // namespace phasegen

namespace phasegen {
namespace {

TEST(Wasserstein, ExactValuesOnKnownSamples) {
  auto t = [](std::vector<double> v) { return at::tensor(v, at::kDouble); };
  EXPECT_NEAR(wasserstein1(t({0, 1}), t({0.5, 1.5})), 0.5, 1e-15);
  EXPECT_NEAR(wasserstein1(t({0}), t({1, 2})), 1.5, 1e-15);
  EXPECT_EQ(wasserstein1(t({3, 1, 2}), t({1, 2, 3})), 0.0);
  // Two large samples of N(0,1) and N(0.3,1): W1 = 0.3 up to sampling noise.
  at::Generator gen = make_generator(31);
  at::Tensor a = at::randn({100000}, gen, at::kDouble);
  at::Tensor b = at::randn({100000}, gen, at::kDouble) + 0.3;
  EXPECT_NEAR(wasserstein1(a, b), 0.3, 0.02);
}

TEST(Chi2, TwoSampleTestAcceptsTwinsAndRejectsDifferences) {
  at::Generator gen = make_generator(32);
  at::Tensor a = at::randn({50000}, gen, at::kDouble);
  at::Tensor b = at::randn({30000}, gen, at::kDouble);
  Chi2Result same = chi2_test(a, b, 40);
  EXPECT_EQ(same.ndf, 39);
  EXPECT_GT(same.p_value, 1e-3);
  EXPECT_LT(chi2_test(a, b * 1.05, 40).p_value, 1e-3);
  EXPECT_LT(chi2_test(a, b + 0.1, 40).p_value, 1e-6);
  EXPECT_NEAR(chi2_test(a, a, 40).chi2, 0.0, 1e-9);
  EXPECT_ERROR_CONTAINS(chi2_test(a, b, 1), "expected at least 2 bins");
}

// Weighted samples: unit weights give the unweighted figures; U(0, 1) reweighted by w = 2x is the
// law of density 2x (x = sqrt(u)) for KS, W1 and chi2, and unweighted it is not.
TEST(WeightedSamples, ReweightedUniformMatchesItsTargetLaw) {
  at::Generator gen = make_generator(31);
  const at::Tensor u = at::rand({20000}, gen, at::kDouble);
  const at::Tensor target = at::sqrt(at::rand({20000}, gen, at::kDouble));
  const at::Tensor ones = at::ones({20000}, at::kDouble);
  EXPECT_EQ(ks_test(target, u, ones).statistic, ks_test(target, u).statistic);
  EXPECT_NEAR(wasserstein1(target, u, ones), wasserstein1(target, u), 1e-15);
  EXPECT_NEAR(effective_size(ones), 20000.0, 1e-9);
  const at::Tensor w = 2.0 * u;
  EXPECT_NEAR(effective_size(w), 20000.0 * 0.75, 300.0);  // (E w)^2 / E w^2 = 1 / (4/3)
  EXPECT_GT(ks_test(target, u, w).p_value, 1e-3);
  EXPECT_LT(ks_test(target, u).p_value, 1e-6);
  EXPECT_LT(wasserstein1(target, u, w), 0.01);
  EXPECT_GT(wasserstein1(target, u), 0.05);  // 2/3 - 1/2 in means
  const Chi2Result weighted = chi2_test(target, u, 20, w);
  EXPECT_EQ(weighted.ndf, 19);
  EXPECT_GT(weighted.p_value, 1e-3);
  EXPECT_LT(chi2_test(target, u, 20, ones).p_value, 1e-6);
  // Integer weights count as repeated values.
  const at::Tensor small = at::tensor({0.1, 0.5, 0.9}, at::kDouble);
  const at::Tensor repeated = at::tensor({0.1, 0.5, 0.5, 0.9, 0.9, 0.9}, at::kDouble);
  const at::Tensor reference = at::rand({500}, gen, at::kDouble);
  EXPECT_NEAR(ks_test(reference, small, at::tensor({1.0, 2.0, 3.0}, at::kDouble)).statistic,
              ks_test(reference, repeated).statistic, 1e-15);
  EXPECT_NEAR(wasserstein1(reference, small, at::tensor({1.0, 2.0, 3.0}, at::kDouble)), wasserstein1(reference, repeated),
              1e-15);
  EXPECT_ERROR_CONTAINS(ks_test(reference, small, at::tensor({1.0, -2.0, 3.0}, at::kDouble)), "expected finite weights >= 0");
  EXPECT_ERROR_CONTAINS(wasserstein1(reference, small, at::ones({2}, at::kDouble)), "expected one weight per value");
}

TEST(Assignment, MatchesBruteForceOnSmallMatrices) {
  at::Generator gen = make_generator(21);
  for (std::int64_t n = 1; n <= 7; ++n) {
    for (int trial = 0; trial < 20; ++trial) {
      // Integer costs with ties, and continuous ones.
      at::Tensor cost = trial % 2 ? at::randint(0, 4, {n, n}, gen, at::kDouble) : at::rand({n, n}, gen, at::kDouble);
      const double* c = cost.data_ptr<double>();
      std::vector<std::int64_t> perm(n);
      std::iota(perm.begin(), perm.end(), 0);
      double best = 1e300;
      do {
        double sum = 0;
        for (std::int64_t i = 0; i < n; ++i) sum += c[i * n + perm[i]];
        best = std::min(best, sum);
      } while (std::next_permutation(perm.begin(), perm.end()));
      const std::vector<std::int64_t> column = min_cost_assignment(cost);
      std::vector<std::int64_t> sorted = column;
      std::sort(sorted.begin(), sorted.end());
      for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i) << "not a permutation, n = " << n;
      double sum = 0;
      for (std::int64_t i = 0; i < n; ++i) sum += c[i * n + column[i]];
      EXPECT_NEAR(sum, best, 1e-12) << "n = " << n << ", trial " << trial;
    }
  }
  EXPECT_ERROR_CONTAINS(min_cost_assignment(at::zeros({2, 3})), "expected a square cost matrix");
  EXPECT_ERROR_CONTAINS(min_cost_assignment(at::full({2, 2}, NAN)), "non-finite entry");
}

}  // namespace
}  // namespace phasegen
