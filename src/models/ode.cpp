#include "phasegen/models/ode.hpp"

#include "phasegen/core/error.hpp"

namespace phasegen {

OdeSolver ode_solver_from_name(const std::string& name) { return kOdeSolverNames.parse(name); }

const char* ode_solver_name(OdeSolver solver) { return kOdeSolverNames.name(solver); }

std::int64_t evaluations_per_step(OdeSolver solver) {
  switch (solver) {
    case OdeSolver::kEuler: return 1;
    case OdeSolver::kHeun: return 2;
    case OdeSolver::kRk4: return 4;
  }
  return 1;
}

std::int64_t steps_for_budget(OdeSolver solver, std::int64_t nfe) {
  const std::int64_t per_step = evaluations_per_step(solver);
  PHASEGEN_CHECK(nfe >= per_step, "nfe: expected at least ", per_step, " evaluations for ", ode_solver_name(solver),
                 ", but got ", nfe);
  return nfe / per_step;
}

at::Tensor integrate(const VectorField& field, at::Tensor x, double t0, double t1, std::int64_t steps,
                     OdeSolver solver, const OdeCallback& on_step) {
  PHASEGEN_CHECK(steps >= 1, "integrate: expected steps >= 1, but got ", steps);
  const double h = (t1 - t0) / static_cast<double>(steps);
  for (std::int64_t i = 0; i < steps; ++i) {
    const double t = t0 + h * static_cast<double>(i);
    switch (solver) {
      case OdeSolver::kEuler:
        x = x + h * field(x, t);
        break;
      case OdeSolver::kHeun: {
        at::Tensor k1 = field(x, t);
        at::Tensor k2 = field(x + h * k1, t + h);
        x = x + (0.5 * h) * (k1 + k2);
        break;
      }
      case OdeSolver::kRk4: {
        at::Tensor k1 = field(x, t);
        at::Tensor k2 = field(x + (0.5 * h) * k1, t + 0.5 * h);
        at::Tensor k3 = field(x + (0.5 * h) * k2, t + 0.5 * h);
        at::Tensor k4 = field(x + h * k3, t + h);
        x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
        break;
      }
    }
    if (on_step) on_step(i + 1, t0 + h * static_cast<double>(i + 1), x);
  }
  return x;
}

IntegratedMap integrate_with_log_det(const JacobianField& field, at::Tensor x, double t0, double t1, std::int64_t steps,
                                     OdeSolver solver) {
  PHASEGEN_CHECK(steps >= 1, "integrate: expected steps >= 1, but got ", steps);
  PHASEGEN_CHECK(x.dim() >= 2 && x.size(0) >= 1, "integrate: expected a batch of states [b, ...], but got ", x.sizes());
  const double h = (t1 - t0) / static_cast<double>(steps);
  const std::int64_t batch = x.size(0), d = x[0].numel();
  const at::Tensor eye = at::eye(d, x.options()).expand({batch, d, d});
  IntegratedMap out;
  out.log_det = at::zeros({batch}, x.options().dtype(at::kDouble));
  out.nonpositive = at::zeros({batch}, x.options().dtype(at::kLong));
  for (std::int64_t i = 0; i < steps; ++i) {
    const double t = t0 + h * static_cast<double>(i);
    at::Tensor m;  // dS / dx of this step [b, D, D]
    switch (solver) {
      case OdeSolver::kEuler: {
        auto [v, j] = field(x, t);
        m = eye + h * j;
        x = x + h * v;
        break;
      }
      case OdeSolver::kHeun: {
        auto [k1, j1] = field(x, t);
        auto [k2, j2] = field(x + h * k1, t + h);
        m = eye + (0.5 * h) * (j1 + at::matmul(j2, eye + h * j1));
        x = x + (0.5 * h) * (k1 + k2);
        break;
      }
      case OdeSolver::kRk4: {
        auto [k1, j1] = field(x, t);
        auto [k2, j2] = field(x + (0.5 * h) * k1, t + 0.5 * h);
        const at::Tensor d2 = at::matmul(j2, eye + (0.5 * h) * j1);
        auto [k3, j3] = field(x + (0.5 * h) * k2, t + 0.5 * h);
        const at::Tensor d3 = at::matmul(j3, eye + (0.5 * h) * d2);
        auto [k4, j4] = field(x + h * k3, t + h);
        const at::Tensor d4 = at::matmul(j4, eye + h * d3);
        m = eye + (h / 6.0) * (j1 + 2.0 * d2 + 2.0 * d3 + d4);
        x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
        break;
      }
    }
    auto [sign, log_abs] = at::linalg_slogdet(m);
    out.log_det += log_abs.to(at::kDouble);
    out.nonpositive += (sign <= 0).to(at::kLong);
  }
  out.x = x;
  return out;
}

}  // namespace phasegen
