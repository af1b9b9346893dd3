// Trained models for Python: load a checkpoint, sample it (the same events as `phasegen sample` for
// the same seed and settings), its exact densities and event weights, and training from a run card.
#include <pybind11/stl.h>

#include <optional>

#include "bindings.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/eval/weights.hpp"
#include "phasegen/io/card.hpp"
#include "phasegen/models/model.hpp"
#include "phasegen/models/spec.hpp"
#include "phasegen/models/weighted.hpp"
#include "phasegen/training/train.hpp"

namespace phasegen::python {

namespace {

// The model's name in messages: its checkpoint, or "the model" for one made here.
std::string model_name(const Model& model) {
  return model.origin() ? "'" + model.origin()->path + "'" : std::string("the model");
}

std::string keyword(const std::string& key) { return key + "="; }

// The model with the sampler settings given as keywords (None: the model's).
Model with_sampler(const Model& model, const std::optional<std::string>& solver, const std::optional<std::string>& sampler,
                   const std::optional<std::string>& grid, const std::optional<std::string>& variance,
                   std::optional<std::int64_t> nfe) {
  SamplerSettings s;
  s.solver = solver.value_or("");
  s.sampler = sampler.value_or("");
  s.grid = grid.value_or("");
  s.variance = variance.value_or("");
  if (nfe) {
    PHASEGEN_CHECK(*nfe >= 1, "nfe=: expected a positive number of evaluations, but got ", *nfe);
    s.nfe = *nfe;
  }
  if (s.solver.empty() && s.sampler.empty() && s.grid.empty() && s.variance.empty() && s.nfe == 0) return model;
  return model.with_spec(with_sampler_settings(model.spec(), s, keyword, model_name(model)));
}

SampleOptions sample_options(std::int64_t seed, std::int64_t batch, int workers, std::int64_t shard, std::int64_t shards) {
  PHASEGEN_CHECK(batch >= 1, "batch=: expected a positive batch size, but got ", batch);
  PHASEGEN_CHECK(workers >= 0, "workers=: expected a worker count >= 0 (0: one per CPU), but got ", workers);
  PHASEGEN_CHECK(shards >= 1 && shard >= 1 && shard <= shards, "shard=: expected 1 <= shard <= shards, but got shard ",
                 shard, " of ", shards);
  return SampleOptions().seed(seed_arg(seed, "seed=")).batch(batch).workers(workers).shard(shard).shards(shards);
}

py::dict origin_dict(const ModelOrigin& o) {
  py::dict out;
  out["path"] = o.path;
  out["step"] = o.step;
  out["ema"] = o.ema;
  out["version"] = o.version;
  out["commit"] = o.commit;
  out["data_path"] = o.data_path;
  out["data_events"] = o.data_events;
  out["card"] = o.card;
  out["train_curve"] = o.train_curve;
  out["validation_curve"] = o.validation_curve;
  return out;
}

// One setting of a run card from Python: True/False as TOML's true/false, numbers and text as given.
std::string setting_text(py::handle value) {
  if (py::isinstance<py::bool_>(value)) return value.cast<bool>() ? "true" : "false";
  if (py::isinstance<py::float_>(value)) return detail::concat(value.cast<double>());
  return py::str(value);
}

Model train_model(const std::optional<std::string>& card, const py::dict& settings, py::object progress) {
  CardSection model_table = ModelSpec::schema();
  CardSection train_table = TrainOptions::schema();
  if (card) {
    const bool has_model = model_table.load(*card, false);
    const bool has_train = train_table.load(*card, false);
    PHASEGEN_CHECK(has_model || has_train, *card, ": the run card has neither a [model] nor a [train] table");
  }
  for (auto [key, value] : settings) {
    const std::string name = py::str(key);
    const bool in_model = model_table.knows(name);
    PHASEGEN_CHECK(in_model || train_table.knows(name), "train: no setting '", name,
                   "' in a run card's [model] or [train] table");
    (in_model ? model_table : train_table).set_text(name, setting_text(value), keyword(name));
  }
  const ModelSpec spec = ModelSpec::from_table(model_table);
  PHASEGEN_CHECK(train_table.has("data"), "train: data: expected a training event file (data= or the card's [train])");
  PHASEGEN_CHECK(train_table.has("checkpoint"), "train: checkpoint: expected a checkpoint path (checkpoint= or the card's [train])");
  TrainOptions options = TrainOptions::from_table(train_table);
  options.validate();
  Progress report(std::move(progress), 0);
  bool interrupted = false;
  {
    py::gil_scoped_release nogil;
    ThreadsGuard threads(1);  // as the command line trains: one thread per worker
    const EventSet data = read_events(options.data());
    Model model(spec, data, options.seed());
    Trainer trainer(model, options);
    const TrainResult result = trainer.run(
        data.momenta,
        [&](const StepReport& r) {
          // An exception of the callback (Ctrl-C caught inside it, say) stops the run like Ctrl-C:
          // kept as Python's pending error, seen by should_stop, the checkpoint written first.
          try {
            report.update(r.step, false, r.total);
          } catch (py::error_already_set& e) {
            py::gil_scoped_acquire gil;
            e.restore();
          }
        },
        [] {
          py::gil_scoped_acquire gil;
          return PyErr_Occurred() != nullptr || PyErr_CheckSignals() != 0;
        });
    interrupted = result.interrupted;
  }
  if (interrupted) throw py::error_already_set();  // the KeyboardInterrupt that stopped it, checkpoint written
  return Model::load(options.checkpoint());
}

}  // namespace

void register_models(py::module_& m) {
  py::class_<Model>(m, "Model", "A trained phasegen model: its spec, network, N and sqrt(s); it samples exact events.")
      .def_static(
          "load",
          [](const std::string& path, py::handle device) {
            const at::Device d = device_arg(device, "Model.load: device");
            py::gil_scoped_release nogil;
            return Model::load(path, d);
          },
          py::arg("path"), py::arg("device") = "cpu",
          "A trained model from a checkpoint (its EMA weights where the run kept them).")
      .def(
          "save", [](const Model& model, const std::string& path) { model.save(path); }, py::arg("path"),
          "Writes the model as a checkpoint that load() reads (no optimiser state).")
      .def(
          "sample",
          [](const Model& model, std::int64_t events, std::int64_t seed, std::optional<std::int64_t> nfe,
             std::optional<std::string> solver, std::optional<std::string> sampler, std::optional<std::string> grid,
             std::optional<std::string> variance, std::int64_t batch, int workers, std::int64_t shard, std::int64_t shards,
             py::object progress) {
            PHASEGEN_CHECK(events >= 1, "Model.sample: expected a number of events >= 1, but got ", events);
            const Model chosen = with_sampler(model, solver, sampler, grid, variance, nfe);
            const SampleOptions options = sample_options(seed, batch, workers, shard, shards);
            const std::int64_t count = chosen.plan(events, options).count;
            Progress report(std::move(progress), count);
            std::vector<at::Tensor> parts;
            {
              py::gil_scoped_release nogil;
              ThreadsGuard threads(1);  // the command line's sampling: one thread per worker
              std::int64_t done = 0;
              chosen.sample(events, options, [&](const at::Tensor& batch_events) {
                parts.push_back(batch_events);
                done += batch_events.size(0);
                report.update(done);
              });
            }
            return at::cat(parts);
          },
          py::arg("events"), py::kw_only(), py::arg("seed") = 1, py::arg("nfe") = py::none(), py::arg("solver") = py::none(),
          py::arg("sampler") = py::none(), py::arg("grid") = py::none(), py::arg("variance") = py::none(),
          py::arg("batch") = 10000, py::arg("workers") = 0, py::arg("shard") = 1, py::arg("shards") = 1,
          py::arg("progress") = py::none(),
          "events [n, N, 4] float64 on the CPU: the same events as `phasegen sample` writes for the same seed and "
          "settings (nfe, solver, sampler, grid and variance replace the model's; batch and workers as its flags).")
      .def(
          "sample_path",
          [](const Model& model, std::int64_t events, std::int64_t every, std::int64_t seed, std::optional<std::int64_t> nfe,
             std::optional<std::string> solver, std::optional<std::string> sampler, std::optional<std::string> grid,
             std::optional<std::string> variance, int workers) {
            PHASEGEN_CHECK(events >= 1, "Model.sample_path: expected a number of events >= 1, but got ", events);
            PHASEGEN_CHECK(every >= 1, "Model.sample_path: expected every >= 1, but got ", every);
            const Model chosen = with_sampler(model, solver, sampler, grid, variance, nfe);
            SampleOptions options = sample_options(seed, events, workers, 1, 1);  // one batch: the path of every event
            options.trajectory_every(every).trajectory_events(events);
            SampleResult r;
            {
              py::gil_scoped_release nogil;
              ThreadsGuard threads(1);
              r = chosen.sample(events, options);
            }
            py::dict out;
            out["events"] = r.events;
            out["steps"] = r.trajectory_steps;
            out["states"] = r.trajectory;
            out["worst_state_violation"] = r.worst_state_violation;
            return out;
          },
          py::arg("events"), py::kw_only(), py::arg("every") = 1, py::arg("seed") = 1, py::arg("nfe") = py::none(),
          py::arg("solver") = py::none(), py::arg("sampler") = py::none(), py::arg("grid") = py::none(),
          py::arg("variance") = py::none(), py::arg("workers") = 0,
          "The sampler's path for a batch of events: {events, steps (the sampler's labels), states [S, n, N, 4] (every "
          "every-th state as events, pure noise first), worst_state_violation (conservation / sqrt_s over every state)}.")
      .def(
          "sample_with_density",
          [](const Model& model, std::int64_t events, std::int64_t seed, std::optional<std::int64_t> nfe,
             std::optional<std::string> solver, std::int64_t batch, int workers) {
            PHASEGEN_CHECK(events >= 1, "Model.sample_with_density: expected a number of events >= 1, but got ", events);
            const Model chosen = with_sampler(model, solver, std::nullopt, std::nullopt, std::nullopt, nfe);
            const SampleOptions options = sample_options(seed, batch, workers, 1, 1);
            DensityResult r;
            {
              py::gil_scoped_release nogil;
              ThreadsGuard threads(1);
              r = chosen.sample_with_density(events, options);
            }
            py::dict out;
            out["events"] = r.events;
            out["log_ratio"] = r.log_ratio;
            out["nonpositive"] = r.nonpositive;
            out["nonpositive_events"] = r.nonpositive_events;
            out["worst_violation"] = r.worst_violation;
            return out;
          },
          py::arg("events"), py::kw_only(), py::arg("seed") = 1, py::arg("nfe") = py::none(), py::arg("solver") = py::none(),
          py::arg("batch") = 10000, py::arg("workers") = 0,
          "Events with the exact density of the sampler that made them: {events, log_ratio (log of the sampler's "
          "density over flat phase space's, per event), nonpositive, nonpositive_events, worst_violation}. The weight of "
          "an event for a target of density F relative to flat phase space is F / exp(log_ratio).")
      .def(
          "weights",
          [](const Model& model, std::int64_t events, const std::string& target, std::int64_t seed, bool unweight,
             std::int64_t first_pass, double sqrt_s, std::int64_t particles, double msq, bool symmetrize,
             std::optional<std::int64_t> nfe, std::optional<std::string> solver, std::int64_t batch, int workers,
             py::object progress) {
            PHASEGEN_CHECK(events >= 1, "Model.weights: expected a number of events >= 1, but got ", events);
            PHASEGEN_CHECK(first_pass >= 0, "first_pass=: expected a number of events >= 0, but got ", first_pass);
            const Model chosen = with_sampler(model, solver, std::nullopt, std::nullopt, std::nullopt, nfe);
            const std::string refusal = chosen.density_refusal();
            PHASEGEN_CHECK(refusal.empty(), "Model.weights: ", model_name(model), ": ", refusal);
            const TargetSpec spec =
                resolve_target(TargetRequest{target, sqrt_s, particles, msq, symmetrize}, chosen, "target=", keyword);
            const double volume = phase_space_volume(spec.n_particles(), spec.sqrt_s);
            const SampleOptions options = sample_options(seed, batch, workers, 1, 1);
            Progress report(std::move(progress), events);
            WeightedSample ws;
            {
              py::gil_scoped_release nogil;
              ThreadsGuard threads(1);
              ws = sample_weighted(
                  chosen, events, [&](const at::Tensor& p) { return target_density(spec, p); }, volume, options,
                  WeightedSampleOptions().unweight(unweight).first_pass(first_pass),
                  [&](std::int64_t kept) { report.update(kept); });
            }
            const WeightSummary& s = ws.summary;
            py::dict out;
            out["events"] = ws.events;
            out["weights"] = ws.weights;
            out["cross_section"] = s.integral;
            out["error"] = s.error;
            out["exact"] = target_integral(spec);
            out["unit"] = target_integral_unit(spec);
            out["ess_fraction"] = s.ess_fraction;
            out["efficiency"] = s.efficiency;
            out["drawn"] = ws.drawn;
            out["zero"] = ws.zero;
            out["worst_violation"] = ws.worst_violation;
            out["nonpositive_events"] = ws.nonpositive_events;
            out["target"] = spec.description();
            if (unweight) {
              out["first_pass"] = ws.first_pass;
              out["max_weight"] = ws.max_weight * volume;
              out["acceptance"] = ws.acceptance;
              out["overweights"] = ws.overweights;
            }
            return out;
          },
          py::arg("events"), py::arg("target"), py::kw_only(), py::arg("seed") = 1, py::arg("unweight") = false,
          py::arg("first_pass") = 0, py::arg("sqrt_s") = 0.0, py::arg("particles") = 0, py::arg("msq") = 0.0,
          py::arg("symmetrize") = false, py::arg("nfe") = py::none(), py::arg("solver") = py::none(),
          py::arg("batch") = 10000, py::arg("workers") = 0, py::arg("progress") = py::none(),
          "Weighted (or, with unweight, unweighted) events for a target of known density (uniform, muon, qqg), as "
          "`phasegen sample --weights` writes them: {events, weights, cross_section, error, exact, unit, ess_fraction, "
          "efficiency, ...}. Settings left 0 are the model's (msq: its cut).")
      .def(
          "with_sampler",
          [](const Model& model, std::optional<std::int64_t> nfe, std::optional<std::string> solver,
             std::optional<std::string> sampler, std::optional<std::string> grid, std::optional<std::string> variance) {
            return with_sampler(model, solver, sampler, grid, variance, nfe);
          },
          py::kw_only(), py::arg("nfe") = py::none(), py::arg("solver") = py::none(), py::arg("sampler") = py::none(),
          py::arg("grid") = py::none(), py::arg("variance") = py::none(),
          "The same model (its weights shared) with other sampler settings.")
      .def("description", &Model::description, "The model, its data and its network in one line.")
      .def("sampler_description", &Model::sampler_description)
      .def("card", [](const Model& model) { return model.spec().to_card(); }, "The resolved [model] table as TOML text.")
      .def_property_readonly("kind", [](const Model& model) { return std::string(kModelKindNames.name(model.spec().kind())); })
      .def_property_readonly("particles", &Model::particles)
      .def_property_readonly("sqrt_s", &Model::sqrt_s)
      .def_property_readonly("pdg_ids", &Model::pdg_ids)
      .def_property_readonly("conserving", &Model::conserving, "Whether every state of the sampler is an exact event.")
      .def_property_readonly("evaluations", &Model::evaluations, "Network evaluations per sampled event.")
      .def_property_readonly("has_density", [](const Model& model) { return model.density_refusal().empty(); })
      .def_property_readonly("density_refusal", &Model::density_refusal,
                             "Why the sampler has no density for event weights ('' when it has one).")
      .def_property_readonly("origin",
                             [](const Model& model) { return model.origin() ? py::object(origin_dict(*model.origin())) : py::object(py::none()); })
      .def_property_readonly("device", [](const Model& model) { return model.device().str(); })
      .def(
          "to",
          [](Model& model, py::handle device) {
            model.to(device_arg(device, "Model.to: device"));
            return model;
          },
          py::arg("device"))
      .def("__repr__", [](const Model& model) { return "<phasegen.Model " + model.description() + ">"; });

  m.def("train", &train_model, py::arg("card") = py::none(), py::arg("settings") = py::dict(),
        py::arg("progress") = py::none(),
        "Trains a model from a run card, settings (a dict of [model] and [train] keys) replacing the card's, as "
        "`phasegen train` does; returns the trained model read back from its checkpoint.");
}

}  // namespace phasegen::python
