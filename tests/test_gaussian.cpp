#include "phasegen/physics/gaussian.hpp"

#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <tuple>

#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/eval/stats.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

using test::max_abs;

// With a graph both maps keep their exact values; their derivatives match central differences, and the
// log-Jacobian of the forward map is the log-determinant of its Jacobian (3 x 3 per particle here).
TEST(GaussianBijection, DerivativesAndLogJacobianMatchFiniteDifferences) {
  at::Tensor z = at::randn({1, 1, 3}, make_generator(41), at::kDouble) * 1.3;
  at::Tensor leaf = z.clone().requires_grad_();
  at::Tensor q = gaussian_to_qspace(leaf);
  EXPECT_TRUE(at::equal(q.detach(), gaussian_to_qspace(z)));
  const double h = 1e-6;
  at::Tensor jacobian = at::zeros({3, 3}, at::kDouble);
  for (int i = 0; i < 3; ++i) {
    at::Tensor grad = torch::autograd::grad({q.view(-1)[i]}, {leaf}, {}, true)[0].view(-1);
    for (int j = 0; j < 3; ++j) {
      at::Tensor up = z.clone(), down = z.clone();
      up.view(-1)[j] += h;
      down.view(-1)[j] -= h;
      const double numeric = (gaussian_to_qspace(up) - gaussian_to_qspace(down)).view(-1)[i].item<double>() / (2 * h);
      EXPECT_NEAR(grad[j].item<double>(), numeric, 1e-6 * (1 + std::abs(numeric))) << i << ", " << j;
      jacobian[i][j] = grad[j];
    }
  }
  EXPECT_NEAR(std::get<1>(at::linalg_slogdet(jacobian)).item<double>(),
              gaussian_to_qspace_log_jacobian(z).item<double>(), 1e-9);
  EXPECT_NEAR(qspace_to_gaussian_log_jacobian(gaussian_to_qspace(z)).item<double>(),
              -gaussian_to_qspace_log_jacobian(z).item<double>(), 1e-10);
}

TEST(GaussianBijection, StandardNormalMapsOntoTheRamboPrior) {
  at::Generator gen = make_generator(17);
  at::Tensor z = at::randn({30000, 3, 3}, gen, at::kDouble);
  at::Tensor q = gaussian_to_qspace(z);
  at::Tensor r = q.norm(2, 2).select(1, 0);
  auto ks = ks_test(r, [](const at::Tensor& x) { return gamma_cdf(x, 2.0); });
  EXPECT_GT(ks.p_value, 1e-3) << "D = " << ks.statistic;
  // The radius of z itself is chi_3, not Gamma(2,1): the test has the power to tell.
  auto ks_z = ks_test(z.norm(2, 2).select(1, 0), [](const at::Tensor& x) { return gamma_cdf(x, 2.0); });
  EXPECT_LT(ks_z.p_value, 1e-6);
  // Directions are kept.
  at::Tensor cosine = (q * z).sum(2) / (q.norm(2, 2) * z.norm(2, 2));
  EXPECT_LE(max_abs(cosine - 1.0), 1e-14);
}

TEST(GaussianBijection, GaussianLatentGivesFlatPhaseSpace) {
  at::Generator gen = make_generator(18);
  const std::int64_t n = 5;
  at::Tensor p = rambo_map(gaussian_to_qspace(at::randn({20000, n, 3}, gen, at::kDouble)), 1.0);
  EXPECT_LE(conservation_violation(p, 1.0).max().item<double>(), 1e-12);
  at::Tensor x = energies(p).select(1, 0) * 2.0;
  auto ks = ks_test(x, [n](const at::Tensor& t) { return beta_cdf(t, 2.0, n - 2.0); });
  EXPECT_GT(ks.p_value, 1e-3) << "D = " << ks.statistic;
}

TEST(GaussianBijection, RoundTripsToTenDigitsOverTheWholeRange) {
  at::Generator gen = make_generator(19);
  // Radii log-spaced over [1e-3, 8], random directions.
  at::Tensor radius = at::pow(10.0, at::linspace(-3.0, std::log10(8.0), 4001, at::kDouble));
  at::Tensor dir = at::randn({4001, 3}, gen, at::kDouble);
  at::Tensor z = dir / dir.norm(2, 1, true) * radius.unsqueeze(1);
  at::Tensor back = qspace_to_gaussian(gaussian_to_qspace(z));
  at::Tensor relative = (back - z).norm(2, 1) / radius;
  EXPECT_LE(relative.max().item<double>(), 1e-10);
  // And the other way, q -> z -> q, over the same span of |q|.
  at::Tensor q = z.clone();
  at::Tensor q_back = gaussian_to_qspace(qspace_to_gaussian(q));
  EXPECT_LE(((q_back - q).norm(2, 1) / radius).max().item<double>(), 1e-10);
}

TEST(GaussianBijection, HandlesZeroAndFarTails) {
  at::Tensor z = at::zeros({1, 1, 3}, at::kDouble);
  EXPECT_EQ(max_abs(gaussian_to_qspace(z)), 0.0);
  at::Tensor far = at::tensor(std::vector<double>{0.0, 0.0, 40.0}, at::kDouble).view({1, 1, 3});
  at::Tensor q = gaussian_to_qspace(far);
  ASSERT_TRUE(at::isfinite(q).all().item<bool>());
  // Tails match: log Q_chi3(40) = log Q_G2(rho).
  auto [lp3, lq3] = log_gamma_cdf_pair(1.5, at::full({1}, 800.0, at::kDouble));
  auto [lp2, lq2] = log_gamma_cdf_pair(2.0, q.norm(2, 2).view({1}));
  EXPECT_NEAR(lq2.item<double>() / lq3.item<double>(), 1.0, 1e-13);
  EXPECT_NEAR(qspace_to_gaussian(q)[0][0][2].item<double>(), 40.0, 1e-10);
}

TEST(IncompleteGamma, LogPairMatchesTorchWhereTorchIsAccurate) {
  at::Tensor x = at::linspace(0.01, 20.0, 500, at::kDouble);
  for (double a : {1.5, 2.0}) {
    auto [log_p, log_q] = log_gamma_cdf_pair(a, x);
    at::Tensor p = at::special_gammainc(at::full_like(x, a), x);
    EXPECT_LE(max_abs(at::exp(log_p) - p), 1e-14);
    EXPECT_LE(max_abs(at::exp(log_q) - (1.0 - p)), 1e-14);
    at::Tensor back = inverse_gamma_cdf(a, log_p, log_q);
    EXPECT_LE(max_abs(back / x - 1.0), 1e-12);
  }
  EXPECT_ERROR_CONTAINS(log_gamma_cdf_pair(3.0, x), "expected a = 3/2 or 2");
}

TEST(GaussianBijection, RejectsWrongShapes) {
  EXPECT_ERROR_CONTAINS(gaussian_to_qspace(at::zeros({2, 4}, at::kDouble)), "expected [..., 3]");
  EXPECT_ERROR_CONTAINS(qspace_to_gaussian(at::zeros({2, 3}, at::kLong)), "floating-point");
}

}  // namespace
}  // namespace phasegen
