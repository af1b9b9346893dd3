// Internal pieces of the phase-space core shared by its translation units.
#pragma once

#include <ATen/ATen.h>

namespace phasegen::detail {

// Massless vectors in planar form: energies [N, B] and unit directions [3, N, B]. With the batch
// innermost every elementwise pass is contiguous and sums over particles are cheap outer sums.
struct PolarQ {
  at::Tensor energy;
  at::Tensor direction;
};

// What the RAMBO map needs from q to reach the rest frame.
struct BoostToRest {
  at::Tensor bhat;  // [3, 1, B] unit boost direction, -Qvec/|Qvec|
  at::Tensor h;     // [N, B] |q_hat_i + b_hat|^2 / 2
  at::Tensor q0;    // [B] sum |q_i|
  at::Tensor qabs;  // [B] |sum q_i|
  at::Tensor mass;  // [B] invariant mass of sum q_i
};

PolarQ sample_polar_prior(std::int64_t batch, std::int64_t particles, at::Generator& gen,
                          at::ScalarType dtype);
PolarQ to_polar(const at::Tensor& v);  // [B, N, 3] -> planar
// Boost and scale of massless k by per-event b (direction bhat [3, 1, B], size babs [B],
// gamma [B]) and scale [B], given h = |k_hat + bhat|^2 / 2 [N, B]. Fills out [B, N, 4].
at::Tensor half_sq_distance(const at::Tensor& dir, const at::Tensor& unit);
BoostToRest rest_frame_boost(const PolarQ& q);
void boost_massless(const PolarQ& k, const at::Tensor& h, const at::Tensor& bhat,
                    const at::Tensor& babs, const at::Tensor& gamma, const at::Tensor& scale,
                    at::Tensor& out);
// Moves events p [B, N, 4] by round-off onto the massless shell with total (sqrt_s, 0): the
// momentum residual is shared in proportion to energy, E_i is reset to |p_i|, and all is rescaled.
void project_onto_phase_space(at::Tensor& p, double sqrt_s);
// The RAMBO map of planar q into out [B, N, 4].
void map_polar(const PolarQ& q, double sqrt_s, at::Tensor& out);
// An uninitialised [B, N, 4] tensor for the events of q.
at::Tensor empty_events(const PolarQ& q);

}  // namespace phasegen::detail
