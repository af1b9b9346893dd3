// phasegen integrate: the integral of a known target over phase space, importance-sampled with a
// trained flow's exact event weights, beside flat phase space and the target generator's own mapping.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <optional>

#include "cli_support.hpp"
#include "commands.hpp"
#include "target_flags.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/core/random.hpp"
#include "phasegen/eval/weights.hpp"
#include "phasegen/models/weighted.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/io/json.hpp"
#include "phasegen/models/model.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/physics/targets.hpp"
#include "phasegen/training/train.hpp"

namespace phasegen::cli {

namespace {

constexpr std::int64_t kBaselineChunk = 100000;

struct IntegrateFlags {
  std::string checkpoint;
  TargetFlags target;
  std::int64_t events = 100000;
  std::int64_t seed = 1;
  std::int64_t batch = 10000;
  int workers = 0;
  std::string device = "auto";
  std::string out;
};

std::string row(const std::string& name, const WeightSummary& s) {
  return detail::concat("  ", name, std::string(std::max<std::size_t>(1, 22 - name.size()), ' '),
                        format_number(s.integral, 6), " +- ", format_number(s.error, 2), "   rel. sd ",
                        format_number(s.relative_sd), "   ESS/n ", format_number(s.ess_fraction), "   eff. ",
                        format_number(s.efficiency), " (truncated at 1e-3: ", format_number(s.truncations[0].efficiency),
                        ", 1e-2: ", format_number(s.truncations[1].efficiency), ")\n");
}

void run_integrate(const IntegrateFlags& f) {
  configure_threads(Workload::kNetwork);
  PHASEGEN_CHECK(f.events >= 2, "--events: expected at least 2 events, but got ", f.events);
  PHASEGEN_CHECK(f.batch >= 1, "--batch: expected a positive batch size, but got ", f.batch);
  PHASEGEN_CHECK(f.seed >= 0, "--seed: expected a seed >= 0, but got ", f.seed);
  PHASEGEN_CHECK(f.workers >= 0, "--workers: expected a worker count >= 0, but got ", f.workers);
  target_from_name(f.target.target);  // an unknown name before the checkpoint is read
  if (!f.out.empty()) check_writable_location(f.out);
  const Model model = Model::load(f.checkpoint, device_from_name(f.device));
  const std::string refusal = model.density_refusal();
  PHASEGEN_CHECK(refusal.empty(), "checkpoint '", f.checkpoint, "': ", refusal);
  const TargetSpec spec = f.target.resolve("--target", model);
  const double exact = target_integral(spec);
  const std::string unit = target_integral_unit(spec);
  const double volume = phase_space_volume(spec.n_particles(), spec.sqrt_s);
  const SampleOptions options = SampleOptions().seed(static_cast<std::uint64_t>(f.seed)).batch(f.batch).workers(f.workers);
  const SamplePlan plan = model.plan(f.events, options);

  // The model: weights from the exact density of its sampler.
  std::vector<at::Tensor> weights;
  std::int64_t done = 0;
  ProgressBar bar("integrate", f.events, "events");
  const DensityResult r = model.sample_with_density(f.events, options, [&](const at::Tensor& events, const at::Tensor& log_ratio,
                                                                           const at::Tensor&) {
    check_interrupt(detail::concat("interrupted after ", done, " of ", f.events, " events (integrate); nothing was written"));
    weights.push_back(importance_weights(target_density(spec, events), log_ratio));
    done += events.size(0);
    bar.update(done);
  });
  bar.finish();
  const WeightSummary m = summarize_weights(at::cat(weights), volume);

  // Flat phase space at the same count: w = F.
  at::Generator flat_gen = stream_generator(static_cast<std::uint64_t>(f.seed), Stream::kIntegrateFlat, 0);
  std::vector<at::Tensor> flat;
  for (std::int64_t k = 0; k < f.events; k += kBaselineChunk) {
    check_interrupt("interrupted in the flat phase-space baseline (integrate); nothing was written");
    const std::int64_t n = std::min(kBaselineChunk, f.events - k);
    flat.push_back(target_density(spec, sample_uniform_phase_space(n, spec.n_particles(), spec.sqrt_s, flat_gen)));
  }
  const WeightSummary u = summarize_weights(at::cat(flat), volume);

  // The generator's own mapping (muon, qqg): its integral from the same number of accepted events.
  std::optional<GenerationStats> mapping;
  if (spec.kind == TargetKind::kMuon || spec.kind == TargetKind::kQqg) {
    EventGenerator generator(spec);
    at::Generator gen = stream_generator(static_cast<std::uint64_t>(f.seed), Stream::kIntegrateGenerator, 0);
    for (std::int64_t k = 0; k < f.events; k += kBaselineChunk) {
      check_interrupt("interrupted in the generator baseline (integrate); nothing was written");
      generator.generate(std::min(kBaselineChunk, f.events - k), gen);
    }
    mapping = generator.stats();
  }

  const double pull = m.error > 0 ? (m.integral - exact) / m.error : 0.0;
  const std::string with_unit = unit.empty() ? std::string() : " " + unit;
  const ModelOrigin& origin = *model.origin();
  std::cout << "phasegen integrate: " << spec.description() << ", " << f.events << " events from '" << f.checkpoint
            << "' (step " << origin.step << "), seed " << f.seed << "\n"
            << "  integral = " << format_number(m.integral, 6) << " +- " << format_number(m.error, 2) << with_unit
            << "   (exact " << format_number(exact, 8) << ", pull " << format_number(pull, 2) << ")\n"
            << "  model               " << model.description() << "\n"
            << "  sampler             " << model.sampler_description() << " in float64, exact step Jacobians; "
            << format_number(r.seconds) << " s, " << format_number(static_cast<double>(f.events) / r.seconds)
            << " events/s, " << plan.workers << (plan.workers == 1 ? " worker\n" : " workers\n")
            << "  sampler map         " << r.nonpositive_events << " events with a step of non-positive Jacobian determinant"
            << (r.nonpositive_events > 0 ? " (where the density formula does not hold)" : "") << "\n"
            << "  zero weights        " << m.zero << " events outside the target (e.g. below its cut)\n"
            << "\n  source                integral" << with_unit << "\n"
            << row("model", m) << row("flat phase space", u);
  if (mapping) {
    std::cout << "  generator mapping     " << format_number(mapping->integral(), 6) << " +- "
              << format_number(mapping->integral_error(), 2) << "   unweighting eff. (its acceptance) "
              << format_number(mapping->efficiency()) << " over " << mapping->proposed << " proposals\n";
  }
  std::cout << "\n  model / flat phase space: unweighting efficiency x" << format_number(m.efficiency / u.efficiency)
            << ", ESS x" << format_number(m.ess_fraction / u.ess_fraction)
            << (mapping ? detail::concat("; model / generator mapping: efficiency x", format_number(m.efficiency / mapping->efficiency()))
                        : std::string())
            << "\n";
  if (!f.out.empty()) {
    std::vector<std::pair<std::string, std::string>> members = {
        {"phasegen_integrate", "1"},
        {"checkpoint", json_string(f.checkpoint)},
        {"checkpoint_step", std::to_string(origin.step)},
        {"model", json_string(model.description())},
        {"sampler", json_string(model.sampler_description() + ", float64, exact step Jacobians")},
        {"target", json_string(spec.description())},
        {"unit", json_string(unit)},
        {"phase_space_volume", json_number(volume)},
        {"exact", json_number(exact)},
        {"events", std::to_string(f.events)},
        {"seed", std::to_string(f.seed)},
        {"workers", std::to_string(plan.workers)},
        {"seconds", json_number(r.seconds)},
        {"nonpositive_jacobian_events", std::to_string(r.nonpositive_events)},
        {"pull", json_number(pull)},
        {"model_weights", weight_summary_json(m, 2)},
        {"flat_phase_space", weight_summary_json(u, 2)}};
    if (mapping) {
      members.emplace_back("generator_mapping", json_object({{"integral", json_number(mapping->integral())},
                                                            {"error", json_number(mapping->integral_error())},
                                                            {"acceptance", json_number(mapping->efficiency())},
                                                            {"proposals", std::to_string(mapping->proposed)}},
                                                           2));
    }
    write_text_file(f.out, json_object(members, 0) + "\n");
    std::cout << "  wrote               " << f.out << "\n";
  }
}

}  // namespace

void add_integrate_command(CLI::App& app) {
  auto f = std::make_shared<IntegrateFlags>();
  CLI::App* cmd = app.add_subcommand(
      "integrate",
      "The integral of a known target over phase space with a trained flow's exact event weights, beside flat phase "
      "space and the target generator's mapping");
  cmd->add_option("--checkpoint", f->checkpoint, "A flow model's checkpoint (kind = flow, lift = random)")->required();
  cmd->add_option("-t,--target", f->target.target, "uniform, muon or qqg: the density the events are weighed by")->required();
  f->target.add_settings(cmd);
  cmd->add_option("-e,--events", f->events, "Events of the model, and of each baseline")->capture_default_str();
  cmd->add_option("--seed", f->seed, "Random seed")->capture_default_str();
  cmd->add_option("--batch", f->batch, "Events sampled together (sets the memory used)")->capture_default_str();
  cmd->add_option("--workers", f->workers, "CPU threads sampling parts of each batch (0: one per CPU)")->capture_default_str();
  cmd->add_option("--device", f->device, "auto, cpu or cuda")->capture_default_str();
  cmd->add_option("--out", f->out, "Write the result as JSON to this file");
  cmd->callback([f] { run_integrate(*f); });
}

}  // namespace phasegen::cli
