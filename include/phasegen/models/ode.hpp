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

}  // namespace phasegen
