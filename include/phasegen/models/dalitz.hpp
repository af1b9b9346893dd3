// The Dalitz-plane state of a three-body model: the event's invariants y_i = s_jk / s (i, j, k
// distinct; y_1 + y_2 + y_3 = 1) above a cut, in log-ratio coordinates, and its orientation apart.
//
//   phasegen::DalitzSpace space(1e-3, 1.0, phasegen::DalitzSpace::fit(events, 1e-3));
//   at::Tensor s = space.encode(events);                              // [b, 1, 2] float32
//   at::Tensor r = phasegen::uniform_rotations(b, gen);                // [b, 3, 3]
//   at::Tensor p = space.decode(s, r);                                 // [b, 3, 4]: exact events
//
// With c the cut, y'_i = (y_i - c) / (1 - 3c) lies on the open simplex exactly when every
// y_i > c, and u = (ln(y'_1 / y'_3), ln(y'_2 / y'_3)) maps that region one to one onto the plane.
// A soft or collinear pole of the target (a density ~ 1 / y_i) is flat in ln y and the cut is no
// edge at all: the density of u falls off smoothly (exponentially) past ln c. The state is u
// standardised by the mean and Cholesky factor of the training events' u, so N(0, I) is its
// natural prior (or the unit-variance logistic, whose exponential tails match the target's, for
// bounded event weights). Any state decodes to an exact massless event in the CM frame with every s_ij/s
// >= c: the energies x_i = 1 - y_i, the angles from sin^2(theta_ij / 2) = y_k / (x_i x_j) (no
// cancellation near collinear limits), then the orientation (a rotation) applied. Targets are
// rotation-invariant, so the orientation is drawn uniformly and never learned.
//
// The physics and its formulas: docs/PHYSICS.md.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "phasegen/models/flow.hpp"

namespace phasegen {

/// The invariants y_i = s_jk / s of three-body events [b, 3, 4] (CM frame), (j, k) the other two
/// particles, as 2 E_j E_k |u_j - u_k|^2 / s with u the unit momenta (no cancellation) -> [b, 3] float64.
at::Tensor three_body_invariants(const at::Tensor& events);

/// The massless three-body CM event of invariants y [b, 3] (y_i > 0, sum 1) at total energy sqrt_s,
/// particle 1 along +z and the event in the xz-plane -> [b, 3, 4] float64.
at::Tensor three_body_event(const at::Tensor& y, double sqrt_s);

/// Rotation matrices [n, 3, 3] float64, uniform (Haar) on SO(3): from normalised Gaussian quaternions.
at::Tensor uniform_rotations(std::int64_t n, at::Generator& gen);

class DalitzSpace {
 public:
  /// `cut`: every s_ij/s of the events is above it (0 <= cut < 1/3); `standardisation`: the mean and
  /// Cholesky factor of u over the training events (fit).
  DalitzSpace(double cut, double sqrt_s, GaussianPrior standardisation);

  /// The log-ratio coordinates u [b, 2] float64 of events [b, 3, 4]; throws phasegen::Error naming
  /// the first event with an invariant at or below the cut.
  static at::Tensor log_ratios(const at::Tensor& events, double cut);
  /// The mean and covariance of the training events' log-ratios.
  static GaussianPrior fit(const at::Tensor& events, double cut);

  /// Events [b, 3, 4] -> standardised states [b, 1, 2] float32.
  at::Tensor encode(const at::Tensor& events) const;
  /// States [b, 1, 2] and orientations [b, 3, 3] -> events [b, 3, 4] float64, GeV.
  at::Tensor decode(const at::Tensor& state, const at::Tensor& rotation) const;

  /// log of the density of states [b, 1, 2] when the events are flat phase space (normalised over
  /// all of it, so over the plane it integrates to the flat fraction above the cut, (1 - 3c)^2):
  /// log(2 (1 - 3c)^2 y'_1 y'_2 y'_3 |det L|), the simplex's, the cut's, the softmax's and the
  /// standardisation's Jacobians. -> [b] float64.
  at::Tensor flat_log_density(const at::Tensor& state) const;

  double cut() const { return cut_; }
  double sqrt_s() const { return sqrt_s_; }
  const GaussianPrior& standardisation() const { return standardisation_; }
  std::string description() const;

 private:
  double cut_;
  double sqrt_s_;
  GaussianPrior standardisation_;
};

}  // namespace phasegen
