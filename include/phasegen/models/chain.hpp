// The antenna-chain chart of an N-body state: every event of N >= 3 massless particles, its
// particles in a chain order, as 4N - 5 real coordinates in which soft and collinear poles are flat.
//
//   const double box = phasegen::chain_box(events);                      // from the training events
//   at::Tensor ordered = phasegen::in_order(events, phasegen::chain_history(events, box, gen));
//   phasegen::ChainSpace space(N, 1.0, box, phasegen::ChainSpace::fit(ordered, box, gen));
//   at::Tensor s = space.encode(ordered, gen);                           // [b, 1, 4N - 5] float32
//   at::Tensor p = space.decode(s);                                      // [b, N, 4]: exact events
//
// Read particles 1 .. N-1 as a chain and N as its anchor: particle i (2 <= i <= N-1) is emitted by
// the pair (i-1, N). Its momentum is fixed by the Sudakov decomposition
// k = a p + b n + k_T (p = p_{i-1}, n = p_N): a = s_{i,N} / s_{i-1,N}, b = s_{i,i-1} / s_{i-1,N}
// and the azimuth of k_T about the pair, measured from particle i-2 (for the first emission, from
// the z axis of the pair's rest frame). With the direction of particle 1 in the rest frame of the
// pair (1, N), these N - 2 triples (ln a, ln b, azimuth) fix the event up to the RAMBO fibre, so
// the chart is one to one: any real coordinates decode, through the RAMBO map, to an exact event.
// Since d^3k / 2E = (s_{i-1,N} / 4) a b d(ln a) d(ln b) d(phi), an antenna pole
// s_{i-1,N} / (s_{i,i-1} s_{i,N}) is flat in the chart, however deep.
//
// Events carry no chain order: it is lifted, like the RAMBO fibre, by drawing one. chain_history
// draws it with probability proportional to 1 / (s_{N,1} s_{1,2} ... s_{N-2,N-1} s_{N-1,N}) (the
// ring's antenna product, a shower history's weight) among the orders whose every |ln a|, |ln b|
// is within the box, exactly, by dynamic programming over subsets. For events made by such a chain
// of antennae within that box (the APS sets) this is the generator's own posterior, and the chart
// coordinates come out independent and uniform; for any events it is a valid lift, because every
// order decodes back to the same unordered event. The box is the data's: the largest, over the
// training events, of the smallest largest |ln a|, |ln b| any order reaches (chain_box). Sampled
// events come back with their particles in a random order, so the chart suits events of identical
// or shuffled particles.
//
// In the state, ln a and ln b are read as w = sqrt(2) erfinv(ln a / box), the normal quantile of
// their place in the box (every state decodes inside the box, whose edges are then no edges, and
// uniform in the box is N(0, 1)), the azimuths as 2-vectors (cos, sin) times a
// Rayleigh radius and the direction of particle 1 as a 3-vector times a chi_3 radius, both radii
// drawn afresh at every encoding (uniform angles are then exactly N(0, I)); the whole state is
// standardised by the mean and Cholesky factor of the training events' (fit).
//
// The physics and its formulas: docs/PHYSICS.md.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "phasegen/models/flow.hpp"

namespace phasegen {

/// The largest N the chain lift takes (its cost grows as 2^N N^3 per event).
inline constexpr std::int64_t kChainMaxParticles = 12;

/// Pair invariants s_ij = E_i E_j |u_i - u_j|^2 (u the unit momenta; no cancellation near collinear
/// limits) of massless events [b, N, 4] -> [b, N, N] float64, GeV^2, zero diagonal.
at::Tensor pair_invariant_matrix(const at::Tensor& events);

/// Chain orders [b, N] long (the particles c_1 .. c_{N-1} of the chain, then its anchor) with the
/// smallest largest |ln a|, |ln b| of any order (exact, depth-first search with bounds; ties go to
/// the first order searched), and that cost [b] float64.
struct ChainOrders {
  at::Tensor order;
  at::Tensor cost;
};
ChainOrders minimax_chain_orders(const at::Tensor& events);

/// The box of the chain lift for events [n, N, 4]: the largest of their minimax costs.
double chain_box(const at::Tensor& events);

/// Chain orders [b, N] long drawn with `gen` for events [b, N, 4]: probability proportional to the
/// inverse ring product of s_ij among the orders within `box`; an event with none gets its minimax
/// order. The same for a seed whatever the thread count.
at::Tensor chain_history(const at::Tensor& events, double box, at::Generator& gen);

/// Events [b, N, 4] with their particles put in `order` [b, N].
at::Tensor in_order(const at::Tensor& events, const at::Tensor& order);

class ChainSpace {
 public:
  /// `box`: chain_box of the training events; `standardisation`: the mean and Cholesky factor of
  /// the training events' squashed chart (fit).
  ChainSpace(std::int64_t particles, double sqrt_s, double box, GaussianPrior standardisation);

  /// Coordinates of the chart for N particles: 4N - 5.
  static std::int64_t dimension(std::int64_t particles) { return 4 * particles - 5; }
  /// The chart [b, 4N - 5] float64 of events [b, N, 4] read in their given order (radii drawn with
  /// `gen`): direction of particle 1 (3), first azimuth (2), ln a and ln b of each emission (2(N-2)),
  /// the other azimuths (2(N-3)).
  static at::Tensor chart(const at::Tensor& events, at::Generator& gen);
  /// The events [b, N, 4] float64 (CM frame, total energy sqrt_s) of chart coordinates [b, 4N - 5],
  /// in chain order.
  static at::Tensor event(const at::Tensor& chart, std::int64_t particles, double sqrt_s);
  /// The mean and covariance of the squashed chart of events [n, N, 4] already in chain order.
  static GaussianPrior fit(const at::Tensor& ordered_events, double box, at::Generator& gen);

  /// Events [b, N, 4] in the order given -> standardised states [b, 1, 4N - 5] float32.
  at::Tensor encode(const at::Tensor& events, at::Generator& gen) const;
  /// States [b, 1, 4N - 5] -> events [b, N, 4] float64, GeV, in chain order.
  at::Tensor decode(const at::Tensor& state) const;

  std::int64_t particles() const { return particles_; }
  double sqrt_s() const { return sqrt_s_; }
  double box() const { return box_; }
  const GaussianPrior& standardisation() const { return standardisation_; }
  std::string description() const;

 private:
  std::int64_t particles_;
  double sqrt_s_;
  double box_;
  GaussianPrior standardisation_;
};

}  // namespace phasegen
