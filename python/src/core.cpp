// The exact phase-space core for Python: the RAMBO prior, the map, its fibre and the lift, the
// Gaussian bijection and the phase-space volume. Tensors in and out; autograd flows through every map.
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/core/random.hpp"
#include "phasegen/physics/gaussian.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen::python {

namespace {

std::int64_t count_arg(std::int64_t n, const std::string& where) {
  PHASEGEN_CHECK(n >= 0, where, ": expected a number of events >= 0, but got ", n);
  return n;
}

LiftOptions lift_arg(py::handle fixed_scale, const std::string& where) {
  if (fixed_scale.is_none()) return LiftOptions::random();
  try {
    return LiftOptions::fixed(fixed_scale.cast<double>());
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
}

}  // namespace

void register_core(py::module_& m) {
  m.def(
      "sample_rambo_prior",
      [](std::int64_t events, std::int64_t particles, std::int64_t seed, py::handle device, py::handle dtype) {
        const at::Device d = device_arg(device, "sample_rambo_prior: device");
        const at::ScalarType type = dtype_arg(dtype, "sample_rambo_prior: dtype");
        at::Generator gen = make_generator(seed_arg(seed, "sample_rambo_prior: seed"), d);
        count_arg(events, "sample_rambo_prior: events");
        py::gil_scoped_release nogil;
        return sample_rambo_prior(events, particles, gen, type);
      },
      py::arg("events"), py::arg("particles"), py::arg("seed") = 1, py::arg("device") = "cpu",
      py::arg("dtype") = py::module_::import("torch").attr("float64"),
      "States q [events, particles, 3] drawn from the RAMBO prior p_ref (every q_i isotropic, |q_i| ~ Gamma(2, 1)); "
      "rambo_map of them is uniform on phase space.");

  m.def(
      "rambo_map",
      [](py::handle q, double sqrt_s) {
        at::Tensor t = states_arg(q, "rambo_map: q");
        py::gil_scoped_release nogil;
        return rambo_map(t, sqrt_s);
      },
      py::arg("q"), py::arg("sqrt_s") = 1.0,
      "The RAMBO map: states q [n, N, 3] -> events p [n, N, 4] (E, px, py, pz), massless, with total momentum "
      "(sqrt_s, 0, 0, 0) to round-off. Differentiable in q.");

  m.def(
      "fibre",
      [](py::handle q, double sqrt_s) {
        at::Tensor t = states_arg(q, "fibre: q");
        FibrePoint f;
        {
          py::gil_scoped_release nogil;
          f = fibre_point(t, sqrt_s);
        }
        return py::make_tuple(f.boost, f.scale);
      },
      py::arg("q"), py::arg("sqrt_s") = 1.0,
      "The fibre coordinates the RAMBO map discards: (boost b [n, 3], scale x [n]) with b = -Q/M and x = sqrt_s/M.");

  m.def(
      "rambo_inverse",
      [](py::handle p, py::handle boost, py::handle scale) {
        at::Tensor events = events_arg(p, "rambo_inverse: p");
        at::Tensor b = tensor_arg(boost, "rambo_inverse: boost", {2, 3});
        at::Tensor x = tensor_arg(scale, "rambo_inverse: scale", {1, 0});
        check_same_device(events, b, "rambo_inverse: p and boost");
        check_same_device(events, x, "rambo_inverse: p and scale");
        py::gil_scoped_release nogil;
        return rambo_inverse(events, FibrePoint{b, x});
      },
      py::arg("p"), py::arg("boost"), py::arg("scale"),
      "The state on a chosen fibre point: q_i = (1/x) Lambda(-b) p_i, so that rambo_map(q, sqrt_s) == p.");

  m.def(
      "sample_fibre",
      [](std::int64_t events, std::int64_t particles, double sqrt_s, std::int64_t seed, py::handle device) {
        const at::Device d = device_arg(device, "sample_fibre: device");
        at::Generator gen = make_generator(seed_arg(seed, "sample_fibre: seed"), d);
        PHASEGEN_CHECK(std::isfinite(sqrt_s) && sqrt_s > 0, "sample_fibre: expected sqrt_s > 0, but got ", sqrt_s);
        at::Tensor energies = at::full({count_arg(events, "sample_fibre: events")}, sqrt_s, at::TensorOptions(at::kDouble).device(d));
        FibrePoint f;
        {
          py::gil_scoped_release nogil;
          f = sample_fibre_point(particles, energies, gen);
        }
        return py::make_tuple(f.boost, f.scale);
      },
      py::arg("events"), py::arg("particles"), py::arg("sqrt_s") = 1.0, py::arg("seed") = 1, py::arg("device") = "cpu",
      "Fibre points (boost [n, 3], scale [n]) of fresh RAMBO states, drawn without the states: the exact lift's.");

  m.def(
      "lift_to_qspace",
      [](py::handle p, std::int64_t seed, py::handle fixed_scale) {
        at::Tensor events = events_arg(p, "lift_to_qspace: p");
        const LiftOptions lift = lift_arg(fixed_scale, "lift_to_qspace: fixed_scale");
        at::Generator gen = make_generator(seed_arg(seed, "lift_to_qspace: seed"), events.device());
        py::gil_scoped_release nogil;
        return lift_to_qspace(events, lift, gen);
      },
      py::arg("p"), py::arg("seed") = 1, py::arg("fixed_scale") = py::none(),
      "Lifts events p [n, N, 4] (CM frame) to states q [n, N, 3] with rambo_map(q, sqrt_s) == p: on a random fibre "
      "point (exact: flat events lift to p_ref), or with fixed_scale = x on the paper's fixed embedding q = p / (x sqrt_s). "
      "Differentiable in p.");

  m.def(
      "rambo_prior_log_density",
      [](py::handle q) { return rambo_prior_log_density(states_arg(q, "rambo_prior_log_density: q")); }, py::arg("q"),
      "log p_ref(q) = sum_i [-|q_i| - log(4 pi |q_i|)], [n, N, 3] -> [n].");
  m.def(
      "rambo_prior_score", [](py::handle q) { return rambo_prior_score(states_arg(q, "rambo_prior_score: q")); },
      py::arg("q"), "The exact score of p_ref, -(1 + 1/|q_i|) q_hat_i, [n, N, 3] -> [n, N, 3].");
  m.def(
      "rambo_prior_score_regularised",
      [](py::handle q, double eps) {
        return rambo_prior_score_regularised(states_arg(q, "rambo_prior_score_regularised: q"), eps);
      },
      py::arg("q"), py::arg("eps") = 0.2, "The regularised score -q_hat - q / (|q|^2 + eps^2), free of the 1/|q| pole.");
  m.def(
      "massless_momenta", [](py::handle q) { return massless_momenta(tensor_arg(q, "massless_momenta: q", {0, 3})); },
      py::arg("q"), "The massless 4-vectors (|q|, q) of 3-vectors: [..., 3] -> [..., 4].");

  m.def(
      "gaussian_to_qspace",
      [](py::handle z) {
        at::Tensor t = tensor_arg(z, "gaussian_to_qspace: z", {0, 3});
        py::gil_scoped_release nogil;
        return gaussian_to_qspace(t);
      },
      py::arg("z"),
      "The Gaussian bijection: z [..., 3] ~ N(0, I) per particle -> q [..., 3] ~ p_ref exactly (radius through the chi_3 "
      "and Gamma(2, 1) CDFs, direction kept). Differentiable in z.");
  m.def(
      "qspace_to_gaussian",
      [](py::handle q) {
        at::Tensor t = tensor_arg(q, "qspace_to_gaussian: q", {0, 3});
        py::gil_scoped_release nogil;
        return qspace_to_gaussian(t);
      },
      py::arg("q"), "The inverse of gaussian_to_qspace: q [..., 3] -> z [..., 3]. Differentiable in q.");
  m.def(
      "gaussian_to_qspace_log_jacobian",
      [](py::handle z) {
        at::Tensor t = states_arg(z, "gaussian_to_qspace_log_jacobian: z");
        py::gil_scoped_release nogil;
        return gaussian_to_qspace_log_jacobian(t);
      },
      py::arg("z"), "log |det dq/dz| of gaussian_to_qspace per event: [n, N, 3] -> [n].");
  m.def(
      "qspace_to_gaussian_log_jacobian",
      [](py::handle q) {
        at::Tensor t = states_arg(q, "qspace_to_gaussian_log_jacobian: q");
        py::gil_scoped_release nogil;
        return qspace_to_gaussian_log_jacobian(t);
      },
      py::arg("q"), "log |det dz/dq| of qspace_to_gaussian per event: [n, N, 3] -> [n].");

  m.def("phase_space_volume", &phase_space_volume, py::arg("particles"), py::arg("sqrt_s") = 1.0,
        "The flat massless phase-space volume Phi_N(s) = (pi/2)^(N-1) s^(N-2) / ((N-1)! (N-2)!), without (2 pi) factors.");
  m.def("log_phase_space_volume", &log_phase_space_volume, py::arg("particles"), py::arg("sqrt_s") = 1.0,
        "log Phi_N(s), finite for every N >= 2.");

  m.def(
      "sample_uniform_phase_space",
      [](std::int64_t events, std::int64_t particles, double sqrt_s, std::int64_t seed, py::handle device) {
        const at::Device d = device_arg(device, "sample_uniform_phase_space: device");
        at::Generator gen = make_generator(seed_arg(seed, "sample_uniform_phase_space: seed"), d);
        count_arg(events, "sample_uniform_phase_space: events");
        py::gil_scoped_release nogil;
        return sample_uniform_phase_space(events, particles, sqrt_s, gen);
      },
      py::arg("events"), py::arg("particles"), py::arg("sqrt_s") = 1.0, py::arg("seed") = 1, py::arg("device") = "cpu",
      "Flat massless phase space: events [events, particles, 4] float64, each exact to round-off.");

  m.def(
      "state_invariants",
      [](py::handle q) {
        StateInvariants s = state_invariants(states_arg(q, "state_invariants: q"));
        return py::make_tuple(s.y, s.x);
      },
      py::arg("q"),
      "The decoded event's invariants of states, constant along the fibre: (y [n, N, N] = s_ij / s, x [n, N] = 2 E_i / sqrt_s).");
  m.def(
      "log_invariant_features", [](py::handle q) { return log_invariant_features(states_arg(q, "log_invariant_features: q")); },
      py::arg("q"), "The networks' invariant features of states: ln(x_i)/10, then ln(y_ij)/10 for j != i, [n, N, N].");
}

}  // namespace phasegen::python
