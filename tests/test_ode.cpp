#include "phasegen/models/ode.hpp"

#include <cmath>

#include "test_util.hpp"

namespace phasegen {
namespace {

// dx/dt = A(t) x with A = [[0, 1], [-1, 0]] (1 + t): the exact flow is a rotation by
// angle phi(t) = t + t^2/2, so the solution is known in closed form and the field depends on t.
at::Tensor field(const at::Tensor& x, double t) {
  at::Tensor a = at::tensor(std::vector<double>{0, 1, -1, 0}, at::kDouble).view({2, 2}) * (1.0 + t);
  return at::matmul(x, a.t());
}

double error_after(OdeSolver solver, std::int64_t steps) {
  at::Tensor x0 = at::tensor(std::vector<double>{1.0, 0.5, -0.3, 2.0}, at::kDouble).view({2, 2});
  const double phi = 1.0 + 0.5;  // t from 0 to 1
  at::Tensor rotation =
      at::tensor(std::vector<double>{std::cos(phi), std::sin(phi), -std::sin(phi), std::cos(phi)}, at::kDouble)
          .view({2, 2});
  at::Tensor exact = at::matmul(x0, rotation.t());
  return (integrate(field, x0, 0.0, 1.0, steps, solver) - exact).abs().max().item<double>();
}

TEST(OdeSolvers, ConvergeAtTheirOrder) {
  for (auto [solver, order] : {std::pair{OdeSolver::kEuler, 1}, std::pair{OdeSolver::kHeun, 2},
                               std::pair{OdeSolver::kRk4, 4}}) {
    const double coarse = error_after(solver, 40), fine = error_after(solver, 80);
    const double observed = std::log2(coarse / fine);
    EXPECT_NEAR(observed, order, 0.15) << ode_solver_name(solver) << ": errors " << coarse << " -> " << fine;
  }
  EXPECT_LT(error_after(OdeSolver::kRk4, 80), 1e-7);
}

TEST(OdeSolvers, IntegrateBackwardsAndReportEveryStep) {
  at::Tensor x = at::ones({3}, at::kDouble);
  std::vector<double> times;
  // dx/dt = x from t = 1 down to 0 gives x(0) = x(1) / e.
  at::Tensor back = integrate([](const at::Tensor& v, double) { return v; }, x, 1.0, 0.0, 200, OdeSolver::kRk4,
                              [&](std::int64_t, double t, const at::Tensor&) { times.push_back(t); });
  EXPECT_NEAR(back[0].item<double>(), std::exp(-1.0), 1e-10);
  ASSERT_EQ(times.size(), 200u);
  EXPECT_NEAR(times.back(), 0.0, 1e-15);
  EXPECT_EQ(steps_for_budget(OdeSolver::kRk4, 50), 12);
  EXPECT_EQ(steps_for_budget(OdeSolver::kHeun, 5), 2);
  EXPECT_ERROR_CONTAINS(steps_for_budget(OdeSolver::kRk4, 3), "expected at least 4 evaluations for rk4");
  EXPECT_ERROR_CONTAINS(ode_solver_from_name("dopri"), "unknown ODE solver 'dopri'");
}

}  // namespace
}  // namespace phasegen
