// Fixed-step ODE solvers on tensors, for flow-matching samplers.
//
//   auto field = [&](const at::Tensor& x, double t) { return velocity(x, t); };
//   at::Tensor x0 = phasegen::integrate(field, x1, 1.0, 0.0, 10, phasegen::OdeSolver::kHeun);
//
// The number of network evaluations is steps * evaluations_per_step(solver).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "phasegen/core/names.hpp"

namespace phasegen {

enum class OdeSolver { kEuler, kHeun, kRk4 };
inline constexpr NameTable<OdeSolver, 3> kOdeSolverNames{
    "solver", "ODE solver", {{{OdeSolver::kEuler, "euler"}, {OdeSolver::kHeun, "heun"}, {OdeSolver::kRk4, "rk4"}}}};

/// "euler", "heun" or "rk4"; throws phasegen::Error for any other name.
OdeSolver ode_solver_from_name(const std::string& name);
const char* ode_solver_name(OdeSolver solver);

/// Vector-field evaluations per step: 1 (Euler), 2 (Heun), 4 (RK4).
std::int64_t evaluations_per_step(OdeSolver solver);

/// Steps that fit a budget of `nfe` evaluations (at least 1); throws if nfe < evaluations_per_step.
std::int64_t steps_for_budget(OdeSolver solver, std::int64_t nfe);

using VectorField = std::function<at::Tensor(const at::Tensor& x, double t)>;
/// Called after each step with (step number from 1, time reached, state).
using OdeCallback = std::function<void(std::int64_t step, double t, const at::Tensor& x)>;

/// Integrates dx/dt = field(x, t) from t0 to t1 (either direction) in `steps` equal steps.
at::Tensor integrate(const VectorField& field, at::Tensor x, double t0, double t1, std::int64_t steps,
                     OdeSolver solver, const OdeCallback& on_step = {});

/// A vector field with its Jacobian at states x [b, ...] of D = x[0].numel() coordinates each:
/// (v shaped like x, J [b, D, D]) with J[b, i, j] = d v_i / d x_j over the flattened coordinates.
using JacobianField = std::function<std::pair<at::Tensor, at::Tensor>(const at::Tensor& x, double t)>;

/// What integrate_with_log_det returns, per row of the batch.
struct IntegratedMap {
  at::Tensor x;            ///< the state after the steps, as integrate() returns it
  at::Tensor log_det;      ///< [b] sum over the steps of log |det dS_k / dx| (the step map S_k's full Jacobian)
  at::Tensor nonpositive;  ///< [b] int64: steps whose Jacobian determinant is not positive (0 where the map is
                           ///< orientation-preserving, as a step of a smooth flow with a small enough step is)
};

/// The steps of integrate() (the same arithmetic, so the same states) with the exact Jacobian of
/// each discrete step composed by the chain rule: Euler I + h J(x); Heun I + h/2 (J1 + J2 (I + h J1));
/// RK4 I + h/6 (J1 + 2 J2 + 2 J3 + J4) with J2 = J(x2)(I + h/2 J1), J3 = J(x3)(I + h/2 J2),
/// J4 = J(x4)(I + h J3). A density g of the start pushed through the map has log g(x_end) =
/// log g(x_start) - log_det wherever every step is invertible.
IntegratedMap integrate_with_log_det(const JacobianField& field, at::Tensor x, double t0, double t1, std::int64_t steps,
                                     OdeSolver solver);

}  // namespace phasegen
