// The paper's data sets for Python: a Target generates exact events, gives its density relative to
// flat phase space and its exact integral, as the command line's `data` and `integrate` do.
#include <pybind11/stl.h>

#include <algorithm>

#include "bindings.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/core/random.hpp"
#include "phasegen/models/weighted.hpp"
#include "phasegen/physics/targets.hpp"

namespace phasegen::python {

namespace {

TargetSpec make_target(const std::string& name, double sqrt_s, std::int64_t particles, double msq, bool symmetrize,
                       double xi_max, bool shuffle) {
  TargetSpec spec;
  spec.kind = target_from_name(name);
  spec.sqrt_s = sqrt_s;
  spec.particles = particles;
  spec.msq = msq;
  spec.symmetrize = symmetrize;
  spec.xi_max = xi_max;
  spec.shuffle = shuffle;
  spec.validate();
  return spec;
}

py::dict stats_dict(const GenerationStats& s) {
  py::dict out;
  out["proposed"] = s.proposed;
  out["accepted"] = s.accepted;
  out["efficiency"] = s.efficiency();
  if (s.has_integral) {
    out["integral"] = s.integral();
    out["integral_error"] = s.integral_error();
    out["integral_unit"] = s.integral_unit;
  }
  return out;
}

}  // namespace

void register_targets(py::module_& m) {
  py::class_<TargetSpec>(m, "Target", "One of the paper's data sets: uniform, muon, qqg or aps, with its settings.")
      .def(py::init(&make_target), py::arg("name"), py::arg("sqrt_s") = 1.0, py::arg("particles") = 3,
           py::arg("msq") = 1e-3, py::arg("symmetrize") = false, py::arg("xi_max") = 30.0, py::arg("shuffle") = true,
           "name: uniform, muon, qqg or aps; particles: N for uniform and aps (muon and qqg have 3); msq: qqg's cut "
           "s_ij/s >= msq; symmetrize: qqg's particle order shuffled; xi_max: aps's antenna range; shuffle: aps's "
           "particles randomly permuted.")
      .def_property_readonly("name", [](const TargetSpec& s) { return std::string(target_name(s.kind)); })
      .def_property_readonly("sqrt_s", [](const TargetSpec& s) { return s.sqrt_s; })
      .def_property_readonly("particles", &TargetSpec::n_particles)
      .def_property_readonly("pdg_ids", &TargetSpec::pdg_ids)
      .def("description", &TargetSpec::description)
      .def("__repr__", [](const TargetSpec& s) { return "<phasegen.Target " + s.description() + ">"; })
      .def(
          "generate",
          [](const TargetSpec& spec, std::int64_t events, std::int64_t seed, py::object progress) {
            PHASEGEN_CHECK(events >= 1, "Target.generate: expected a number of events >= 1, but got ", events);
            at::Generator gen = make_generator(seed_arg(seed, "Target.generate: seed"));
            EventGenerator generator(spec);
            Progress report(std::move(progress), events);
            std::vector<at::Tensor> parts;
            {
              py::gil_scoped_release nogil;
              // The command line's chunks, so that a set is the same as `phasegen data` makes for the seed.
              for (std::int64_t done = 0; done < events;) {
                const std::int64_t n = std::min(kGenerateChunk, events - done);
                parts.push_back(generator.generate(n, gen));
                done += n;
                report.update(done);
              }
            }
            return py::make_tuple(at::cat(parts), stats_dict(generator.stats()));
          },
          py::arg("events"), py::arg("seed") = 1, py::arg("progress") = py::none(),
          "(events [n, N, 4] float64, statistics): the same events as `phasegen data` makes for the target and seed; "
          "the statistics hold the acceptance and, for muon and qqg, the integral estimate of the proposals.")
      .def(
          "density",
          [](const TargetSpec& spec, py::handle p) { return target_density(spec, events_arg(p, "Target.density: p")); },
          py::arg("p"),
          "The density F(p) relative to flat phase space (events drawn flat and weighed by F follow the target): [n]. "
          "APS has none.")
      .def_property_readonly("density_unit", &target_density_unit)
      .def("integral", &target_integral,
           "The exact integral of the density over phase space (uniform Phi_N, muon pi^2 sqrt_s^5 / 192, qqg's by "
           "quadrature).")
      .def_property_readonly("integral_unit", &target_integral_unit);
}

}  // namespace phasegen::python
