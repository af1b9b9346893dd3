// The Gaussian bijection: a standard normal latent that is exactly the RAMBO prior.
//
//   at::Tensor z = at::randn({1000, 5, 3}, at::kDouble);
//   at::Tensor q = phasegen::gaussian_to_qspace(z);   // q ~ p_ref exactly
//   at::Tensor z2 = phasegen::qspace_to_gaussian(q);  // equals z to ~1e-12
//
// Per particle, z in R^3 keeps its direction and its radius r = |z| is sent through the chi_3
// CDF and the inverse Gamma(2, 1) CDF: rho = F_G2^-1(F_chi3(r)), q = rho z_hat. Both CDFs are
// evaluated in log form, from whichever tail is smaller, so that tiny and huge radii keep full
// relative precision (the closed form through Lambert W_-1 loses it near its branch point).
//
// The physics and its formulas: docs/PHYSICS.md.
#pragma once

#include <ATen/ATen.h>

namespace phasegen {

/// z [..., 3] (N(0, I) per particle) -> q [..., 3] distributed as p_ref.
at::Tensor gaussian_to_qspace(const at::Tensor& z);

/// The inverse map q [..., 3] -> z [..., 3].
at::Tensor qspace_to_gaussian(const at::Tensor& q);

/// Both maps are differentiable (first derivatives) in their argument: the radial map's derivative
/// is the ratio of the two radial densities, chi_3(r) / Gamma(2, 1)(rho), so no graph of the inverse
/// CDF's Newton steps is recorded.

/// log |det dq/dz| of gaussian_to_qspace per event, z [batch, N, 3] -> [batch]: log N(z; 0, I) -
/// log p_ref(q(z)), since the map carries N(0, I) onto p_ref exactly.
at::Tensor gaussian_to_qspace_log_jacobian(const at::Tensor& z);
/// log |det dz/dq| of qspace_to_gaussian per event, q [batch, N, 3] -> [batch] (the negative of the above).
at::Tensor qspace_to_gaussian_log_jacobian(const at::Tensor& q);

/// log P(a, x) and log Q(a, x), the regularised incomplete gamma function and its complement,
/// for a in {3/2, 2} and x >= 0, each accurate to a few ulp in relative terms.
/// Returns a pair of tensors shaped like x.
std::pair<at::Tensor, at::Tensor> log_gamma_cdf_pair(double a, const at::Tensor& x);

/// Solves P(a, x) = P for x, given log P and log Q = log(1 - P) (both, so that either tail is
/// exact). a in {3/2, 2}. Returns x shaped like the inputs.
at::Tensor inverse_gamma_cdf(double a, const at::Tensor& log_p, const at::Tensor& log_q);

}  // namespace phasegen
