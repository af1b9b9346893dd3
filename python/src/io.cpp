// Event files for Python: .pt, HepMC3 and LHE read and written with their run information (a dict)
// and weights, through the same validating readers and atomic writers as the command line.
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/io/event_io.hpp"

namespace phasegen::python {

namespace {

py::dict run_dict(const RunInfo& run) {
  py::dict out;
  out["description"] = run.description;
  out["seed"] = run.seed ? py::cast(*run.seed) : py::none();
  py::dict attributes;
  for (const auto& [key, value] : run.attributes) attributes[py::str(key)] = value;
  out["attributes"] = attributes;
  out["version"] = run.version;
  out["commit"] = run.commit;
  return out;
}

py::dict weight_dict(const WeightInfo& w) {
  py::dict out;
  out["mode"] = std::string(weight_mode_name(w.mode));
  out["name"] = w.name;
  out["cross_section"] = w.cross_section;
  out["error"] = w.error;
  out["max_weight"] = w.max_weight;
  out["unit"] = w.unit;
  return out;
}

std::string text_of(py::handle value, const std::string& where) {
  PHASEGEN_CHECK(py::isinstance<py::str>(value), where, ": expected a str, but got ",
                 std::string(py::str(py::type::handle_of(value).attr("__name__"))));
  return value.cast<std::string>();
}

RunInfo run_from(py::handle run) {
  RunInfo info = make_run_info("");
  if (run.is_none()) return info;
  PHASEGEN_CHECK(py::isinstance<py::dict>(run), "write_events: run: expected a dict (description, seed, attributes)");
  for (auto [key, value] : run.cast<py::dict>()) {
    const std::string name = text_of(key, "write_events: run key");
    if (name == "description") {
      info.description = text_of(value, "write_events: run['description']");
    } else if (name == "seed") {
      if (value.is_none()) continue;
      PHASEGEN_CHECK(py::isinstance<py::int_>(value), "write_events: run['seed']: expected an int >= 0");
      info.seed = seed_arg(value.cast<std::int64_t>(), "write_events: run['seed']");
    } else if (name == "attributes") {
      PHASEGEN_CHECK(py::isinstance<py::dict>(value), "write_events: run['attributes']: expected a dict of str to str");
      for (auto [k, v] : value.cast<py::dict>()) {
        info.attributes.push_back({text_of(k, "write_events: run['attributes'] key"),
                                   py::isinstance<py::str>(v) ? v.cast<std::string>() : std::string(py::str(v))});
      }
    } else if (name != "version" && name != "commit") {  // those two are this build's, whatever was read
      PHASEGEN_CHECK(false, "write_events: run: unknown key '", name, "' (expected description, seed, attributes)");
    }
  }
  return info;
}

WeightInfo weights_from(py::handle info, const at::Tensor& weights) {
  WeightInfo w;
  w.mode = WeightInfo::Mode::kWeighted;
  const double n = static_cast<double>(weights.size(0));
  w.cross_section = weights.mean().item<double>();
  w.error = n > 1 ? weights.std().item<double>() / std::sqrt(n) : 0.0;
  w.max_weight = weights.max().item<double>();
  if (info.is_none()) return w;
  PHASEGEN_CHECK(py::isinstance<py::dict>(info), "write_events: weight_info: expected a dict");
  for (auto [key, value] : info.cast<py::dict>()) {
    const std::string name = text_of(key, "write_events: weight_info key");
    const std::string where = "write_events: weight_info['" + name + "']";
    if (name == "mode") {
      const std::string mode = text_of(value, where);
      PHASEGEN_CHECK(mode == "weighted" || mode == "unweighted", where, ": expected weighted or unweighted, but got '",
                     mode, "'");
      w.mode = mode == "weighted" ? WeightInfo::Mode::kWeighted : WeightInfo::Mode::kUnweighted;
    } else if (name == "name") {
      w.name = text_of(value, where);
    } else if (name == "unit") {
      w.unit = text_of(value, where);
    } else if (name == "cross_section" || name == "error" || name == "max_weight") {
      const double x = value.cast<double>();
      PHASEGEN_CHECK(std::isfinite(x) && x >= 0, where, ": expected a finite number >= 0, but got ", x);
      (name == "cross_section" ? w.cross_section : name == "error" ? w.error : w.max_weight) = x;
    } else {
      PHASEGEN_CHECK(false, "write_events: weight_info: unknown key '", name,
                     "' (expected mode, name, cross_section, error, max_weight, unit)");
    }
  }
  return w;
}

}  // namespace

void register_io(py::module_& m) {
  py::class_<EventSet>(m, "EventSet", "Events read from a file, with what the file says of them.")
      .def_readonly("momenta", &EventSet::momenta, "[n, N, 4] float64 (E, px, py, pz), GeV, on the CPU")
      .def_readonly("sqrt_s", &EventSet::sqrt_s)
      .def_readonly("pdg_ids", &EventSet::pdg_ids)
      .def_property_readonly("run", [](const EventSet& s) { return run_dict(s.run); },
                             "How the file was made: {description, seed, attributes, version, commit}.")
      .def_property_readonly("weights", [](const EventSet& s) { return s.weights.defined() ? py::cast(s.weights) : py::none(); },
                             "[n] float64 for a weighted or unweighted file, else None.")
      .def_property_readonly(
          "weight_info",
          [](const EventSet& s) {
            return s.weight_info.mode == WeightInfo::Mode::kNone ? py::object(py::none()) : py::object(weight_dict(s.weight_info));
          },
          "{mode, name, cross_section, error, max_weight, unit} of a weighted file, else None.")
      .def("__len__", [](const EventSet& s) { return s.momenta.size(0); })
      .def("__repr__", [](const EventSet& s) {
        return detail::concat("<phasegen.EventSet ", s.momenta.size(0), " events, N = ", s.momenta.size(1),
                              ", sqrt_s = ", s.sqrt_s, ">");
      });

  m.def(
      "read_events",
      [](const std::string& path, double tolerance, bool require_conservation, double sqrt_s) {
        ReadOptions options;
        options.tolerance = tolerance;
        options.require_conservation = require_conservation;
        options.sqrt_s = sqrt_s;
        PHASEGEN_CHECK(std::isfinite(tolerance) && tolerance > 0, "read_events: expected a tolerance > 0, but got ", tolerance);
        py::gil_scoped_release nogil;
        return read_events(path, options);
      },
      py::arg("path"), py::arg("tolerance") = 1e-6, py::arg("require_conservation") = true, py::arg("sqrt_s") = 0.0,
      "Reads and validates every event of a .pt, .hepmc3 or .lhe file (the format from the extension): massless, "
      "in the CM frame at one sqrt_s within the tolerance (relative to sqrt_s), or with require_conservation = False "
      "massless only (p-space baselines, other generators).");

  m.def(
      "write_events",
      [](const std::string& path, py::handle events, py::handle sqrt_s, std::vector<int> pdg_ids, py::handle run,
         py::handle weights, py::handle weight_info, std::pair<int, int> beams, double tolerance) {
        at::Tensor p = events_arg(events, "write_events: events").detach().to(at::kCPU, at::kDouble).contiguous();
        const double energy = sqrt_s_of(sqrt_s, p, "write_events");
        PHASEGEN_CHECK(std::isfinite(tolerance) && tolerance > 0, "write_events: expected a tolerance > 0, but got ", tolerance);
        validate_events(p, energy, tolerance, "write_events: events");
        WriterOptions options;
        options.particles = p.size(1);
        options.sqrt_s = energy;
        options.pdg_ids = std::move(pdg_ids);
        options.beam_ids = beams;
        options.run = run_from(run);
        at::Tensor w = optional_tensor_arg(weights, "write_events: weights", {1, 0});
        if (w.defined()) {
          w = w.detach().to(at::kCPU, at::kDouble);
          PHASEGEN_CHECK(w.size(0) == p.size(0), "write_events: weights: expected one weight per event (", p.size(0),
                         "), but got ", w.size(0));
          PHASEGEN_CHECK(p.size(0) > 0, "write_events: weights: a weighted file needs at least one event");
          PHASEGEN_CHECK(!(w < 0).any().item<bool>(), "write_events: weights: expected weights >= 0");
          options.weights = weights_from(weight_info, w);
        } else {
          PHASEGEN_CHECK(weight_info.is_none(), "write_events: weight_info needs weights");
        }
        py::gil_scoped_release nogil;
        auto writer = open_event_writer(path, options);
        if (w.defined()) writer->write(p, w);
        else writer->write(p);
        writer->close();
        return writer->events_written();
      },
      py::arg("path"), py::arg("events"), py::arg("sqrt_s") = py::none(), py::arg("pdg_ids") = std::vector<int>{},
      py::arg("run") = py::none(), py::arg("weights") = py::none(), py::arg("weight_info") = py::none(),
      py::arg("beams") = std::pair<int, int>{11, -11}, py::arg("tolerance") = 1e-6,
      "Writes events [n, N, 4] to a .pt, .hepmc3 or .lhe file atomically (a temporary file renamed on success), after "
      "checking that every event is massless and conserves momentum within the tolerance. run: {description, seed, "
      "attributes}; pdg_ids: one id or N (default photons); weights [n] with weight_info {mode, name, cross_section, "
      "error, max_weight, unit} (cross section default: the weights' mean). Returns the number of events written.");

  m.def(
      "read_trajectory",
      [](const std::string& path, double tolerance) {
        ReadOptions options;
        options.tolerance = tolerance;
        Trajectory t;
        {
          py::gil_scoped_release nogil;
          t = read_trajectory(path, options);
        }
        return py::make_tuple(t.steps, t.events);
      },
      py::arg("path"), py::arg("tolerance") = 1e-6,
      "A sampler's path as written by `phasegen sample --trajectory-out`: (steps [S], events [S, n, N, 4]).");
}

}  // namespace phasegen::python
