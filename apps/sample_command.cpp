// phasegen sample: events from a trained checkpoint, optionally with the states of the reverse path.
#include <algorithm>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <utility>

#include "cli_support.hpp"
#include "commands.hpp"
#include "target_flags.hpp"
#include "output_set.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/models/model.hpp"
#include "phasegen/models/weighted.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/training/train.hpp"

namespace phasegen::cli {

namespace {

struct SampleFlags {
  std::string checkpoint;
  std::int64_t events = 100000;
  std::int64_t seed = 1;
  std::vector<std::string> outputs;
  std::int64_t batch = 10000;
  std::string variance;
  std::string solver;
  std::string sampler;
  std::string grid;
  std::int64_t nfe = 0;
  std::int64_t trajectory_every = 0;
  std::string trajectory_out;
  std::int64_t trajectory_events = 10000;
  std::string device = "auto";
  int workers = 0;
  std::string shard;
  TargetFlags weights;  // --weights TARGET and its settings
  bool unweight = false;
  std::int64_t first_pass = 0;
};

// "--shard i/n": shard i (1 <= i <= n) of n; "" is the whole run (1/1).
std::pair<std::int64_t, std::int64_t> parse_shard(const std::string& text) {
  if (text.empty()) return {1, 1};
  const auto position = shard_position(text);
  PHASEGEN_CHECK(position, "--shard: expected i/n with 1 <= i <= n (shard i of n), but got '", text, "'");
  return *position;
}

// sample --weights: every event with its weight against the target, or unweighted (--unweight).
void run_weighted_sample(const SampleFlags& f, const Model& model, const SampleOptions& options, WriterOptions wopts) {
  const std::string refusal = model.density_refusal();
  PHASEGEN_CHECK(refusal.empty(), "--weights: checkpoint '", f.checkpoint, "': ", refusal);
  const TargetSpec target = f.weights.resolve("--weights", model);
  for (const auto& path : f.outputs) check_writable_location(path);  // before sampling, not after it
  const double volume = phase_space_volume(target.n_particles(), target.sqrt_s);
  const auto start = Clock::now();
  ProgressBar bar("sample", f.events, "events");
  const WeightedSample ws = sample_weighted(
      model, f.events, [&](const at::Tensor& events) { return target_density(target, events); }, volume, options,
      WeightedSampleOptions().unweight(f.unweight).first_pass(f.first_pass), [&](std::int64_t kept) {
        check_interrupt(detail::concat("interrupted after ", kept, " of ", f.events, " events (sample --weights); no output was written"));
        bar.update(kept);
      });
  bar.finish();
  const WeightSummary& s = ws.summary;
  const std::string unit = target_integral_unit(target);
  WeightInfo& info = wopts.weights;
  info.mode = f.unweight ? WeightInfo::Mode::kUnweighted : WeightInfo::Mode::kWeighted;
  info.name = target_name(target.kind);
  info.cross_section = s.integral;
  info.error = s.error;
  info.max_weight = ws.weights.max().item<double>();
  info.unit = unit;
  auto& a = wopts.run.attributes;
  a.push_back({"weights_target", target.description()});
  a.push_back({"weights_drawn", std::to_string(ws.drawn)});
  a.push_back({"weights_zero_dropped", std::to_string(ws.zero)});
  a.push_back({"weights_ess_per_event", format_number(s.ess_fraction, 4)});
  a.push_back({"weights_unweighting_efficiency", format_number(s.efficiency, 4)});
  if (f.unweight) {
    a.push_back({"unweight_first_pass", std::to_string(ws.first_pass)});
    a.push_back({"unweight_max_weight", format_number(ws.max_weight * volume, 6)});
    a.push_back({"unweight_acceptance", format_number(ws.acceptance, 4)});
    a.push_back({"unweight_overweights", std::to_string(ws.overweights)});
  }
  OutputSet outputs(f.outputs, wopts);
  outputs.write(ws.events, ws.weights);
  outputs.close();
  const std::string with_unit = unit.empty() ? std::string() : " " + unit;
  std::cout << "phasegen sample: " << f.events << (f.unweight ? " unweighted" : " weighted") << " events from '"
            << f.checkpoint << "' (step " << model.origin()->step << "), seed " << f.seed << ", weighed by "
            << target.description() << "\n"
            << "  cross section = " << format_number(s.integral, 6) << " +- " << format_number(s.error, 2) << with_unit
            << "   (exact " << format_number(target_integral(target), 8) << "; from all " << ws.drawn << " draws)\n"
            << "  model               " << model.description() << "\n"
            << "  sampling            " << format_number(ws.seconds) << " s, " << model.sampler_description()
            << " in float64 with exact step Jacobians\n"
            << "  weights             ESS/n " << format_number(s.ess_fraction) << ", rel. sd " << format_number(s.relative_sd)
            << ", unweighting efficiency mean/max " << format_number(s.efficiency) << "; " << ws.zero
            << " draws of weight 0 (outside the target) not written\n";
  if (f.unweight) {
    std::cout << "  unweighting         w_max of a first pass of " << ws.first_pass << " events; accepted " << f.events
              << " of " << ws.trials << " (efficiency " << format_number(ws.acceptance) << "), " << ws.overweights
              << " over-weights kept with w / w_max > 1 (fraction " << format_number(static_cast<double>(ws.overweights) / static_cast<double>(f.events)) << ")\n";
  } else {
    std::cout << "  written weights     volume x w: their mean is the cross section (largest " << format_number(info.max_weight)
              << with_unit << ")\n";
  }
  std::cout << "  sampler map         " << ws.nonpositive_events << " draws with a step of non-positive Jacobian determinant\n"
            << "  total with output   " << format_number(seconds_since(start)) << " s\n";
  print_exactness(std::cout, outputs);
  outputs.print_written(std::cout);
}

void run_sample(const SampleFlags& f) {
  configure_threads(Workload::kNetwork);
  PHASEGEN_CHECK(f.events >= 1, "--events: expected a positive number of events, but got ", f.events);
  PHASEGEN_CHECK(f.batch >= 1, "--batch: expected a positive batch size, but got ", f.batch);
  PHASEGEN_CHECK(f.seed >= 0, "--seed: expected a seed >= 0, but got ", f.seed);
  PHASEGEN_CHECK(!f.outputs.empty(), "--out: expected at least one output file (.pt, .hepmc3, .lhe)");
  for (const auto& path : f.outputs) format_from_path(path);
  const bool trajectory = f.trajectory_every > 0;
  PHASEGEN_CHECK(f.trajectory_every >= 0, "--trajectory-every: expected k >= 0, but got ", f.trajectory_every);
  PHASEGEN_CHECK(!trajectory || !f.trajectory_out.empty(), "--trajectory-every needs --trajectory-out FILE.pt");
  PHASEGEN_CHECK(!trajectory || format_from_path(f.trajectory_out) == EventFormat::kPt,
                 "--trajectory-out: expected a .pt file, but got '", f.trajectory_out, "'");
  PHASEGEN_CHECK(f.workers >= 0, "--workers: expected a worker count >= 0, but got ", f.workers);
  PHASEGEN_CHECK(f.trajectory_events >= 1, "--trajectory-events: expected >= 1, but got ", f.trajectory_events);
  if (trajectory) check_writable_location(f.trajectory_out);  // before sampling, not after it
  const auto [shard, shards] = parse_shard(f.shard);
  const bool weighted = !f.weights.target.empty();
  PHASEGEN_CHECK(!f.unweight || weighted, "--unweight needs --weights TARGET (the density to unweight against)");
  PHASEGEN_CHECK(f.first_pass >= 0, "--first-pass: expected a number of events >= 0, but got ", f.first_pass);
  PHASEGEN_CHECK(!weighted || !trajectory, "--weights: trajectories are not kept for weighted events (drop --trajectory-every)");
  PHASEGEN_CHECK(!weighted || shards == 1, "--weights: a sharded run's cross sections are not combined by merge yet; sample the weighted events in one run");
  if (weighted) target_from_name(f.weights.target);  // an unknown name before the checkpoint is read
  PHASEGEN_CHECK(f.events >= shards, "--events: the run's ", f.events, " events cannot fill ", shards,
                 " shards (--events is the whole run's)");

  const at::Device device = device_from_name(f.device);
  Model trained = Model::load(f.checkpoint, device);
  // Sampler flags replace the checkpoint's settings; each applies to the families that have it.
  SamplerSettings sampler;
  sampler.variance = f.variance;
  sampler.solver = f.solver;
  sampler.sampler = f.sampler;
  sampler.grid = f.grid;
  sampler.nfe = f.nfe;
  const Model model = trained.with_spec(with_sampler_settings(
      trained.spec(), sampler, [](const std::string& key) { return "--" + key; }, "'" + f.checkpoint + "'"));
  const ModelOrigin& origin = *model.origin();
  const std::string description = model.description();
  SampleOptions options = SampleOptions()
                              .seed(static_cast<std::uint64_t>(f.seed))
                              .batch(f.batch)
                              .workers(f.workers)
                              .trajectory_every(f.trajectory_every)
                              .trajectory_events(f.trajectory_events)
                              .shard(shard)
                              .shards(shards);
  const SamplePlan plan = model.plan(f.events, options);
  const std::int64_t events = plan.count;
  const std::uint64_t seed = plan.seed;
  const int workers = plan.workers;

  WriterOptions wopts;
  wopts.particles = model.particles();
  wopts.sqrt_s = model.sqrt_s();
  wopts.pdg_ids = model.pdg_ids();
  if (static_cast<std::int64_t>(wopts.pdg_ids.size()) != model.particles()) wopts.pdg_ids.clear();
  wopts.run = make_run_info("sampled from " + f.checkpoint + " (step " + std::to_string(origin.step) + "): " +
                            description);
  wopts.run.seed = static_cast<std::uint64_t>(f.seed);
  wopts.run.attributes = {{"command", "sample"},
                          {"checkpoint", f.checkpoint},
                          {"checkpoint_step", std::to_string(origin.step)},
                          {"sampler", model.sampler_description()},
                          {"workers", std::to_string(workers)},
                          {"card", origin.card}};
  const double cut = model.spec().cut();
  if (cut > 0) wopts.run.attributes.push_back({"cut", detail::concat("every s_ij/s >= ", cut, " (generator level)")});
  if (shards > 1) {
    wopts.run.attributes.insert(wopts.run.attributes.begin() + 1,
                                {{"shard", detail::concat(shard, "/", shards)},
                                 {"events", std::to_string(f.events)},
                                 {"shard_events", std::to_string(events)},
                                 {"shard_seed", std::to_string(seed)}});
  }
  if (!f.weights.target.empty()) {
    run_weighted_sample(f, model, options, std::move(wopts));
    return;
  }
  OutputSet outputs(f.outputs, wopts);
  const auto start = Clock::now();
  ProgressBar bar("sample", events, "events");
  std::int64_t written = 0;
  const SampleResult result = model.sample(f.events, options, [&](const at::Tensor& batch) {
    check_interrupt(detail::concat("interrupted after ", written, " events (sample); no output was written"));
    outputs.write(batch);
    written += batch.size(0);
    bar.update(written);
  });
  if (cut > 0) {
    outputs.add_run_attribute("cut_drawn", std::to_string(result.drawn));
    outputs.add_run_attribute("cut_dropped", std::to_string(result.cut_dropped));
    outputs.add_run_attribute("cut_fraction", format_number(result.cut_fraction()));
  }
  outputs.close();
  bar.finish();
  if (trajectory) write_trajectory(f.trajectory_out, {at::tensor(result.trajectory_steps, at::kLong), result.trajectory});
  std::cout << "phasegen sample: " << events << " events from '" << f.checkpoint << "' (step " << origin.step
            << (origin.ema ? ", EMA weights" : "") << "), seed " << f.seed
            << (shards > 1 ? detail::concat(", shard ", shard, " of ", shards, " (of ", f.events, " events; shard seed ",
                                            seed, ")")
                           : std::string())
            << "\n"
            << "  model               " << description << "\n"
            << "  network             " << model.network()->description() << "\n"
            << "  sampling            " << format_number(result.seconds) << " s, "
            << format_number(events / result.seconds) << " events/s, " << model.sampler_description() << "\n"
            << "  device              " << device
            << (device.is_cpu() ? detail::concat(", ", workers, workers == 1 ? " worker" : " workers") : std::string())
            << "\n"
            << "  total with output   " << format_number(seconds_since(start)) << " s\n";
  if (cut > 0) {
    std::cout << "  cut                 every s_ij/s >= " << cut << ": dropped " << result.cut_dropped << " of "
              << result.drawn << " sampled events, dropped fraction " << format_number(result.cut_fraction()) << "\n";
  }
  print_exactness(std::cout, outputs);
  if (!model.conserving()) {
    std::cout << "  note                a p-space baseline: nothing enforces conservation; compare the figures "
                 "above with the truth's (phasegen compare)\n";
  }
  if (trajectory) {
    std::cout << "  trajectory          " << result.trajectory.size(0) << " states of " << result.trajectory.size(1)
              << " events every " << f.trajectory_every << " steps; worst violation over them "
              << format_number(result.worst_state_violation) << "\n"
              << "  wrote               " << f.trajectory_out << " (dict: steps [S], events [S, n, N, 4])\n";
  }
  outputs.print_written(std::cout);
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto f = std::make_shared<SampleFlags>();
  CLI::App* cmd = app.add_subcommand("sample", "Sample events from a trained checkpoint");
  cmd->add_option("--checkpoint", f->checkpoint, "Checkpoint written by phasegen train")->required();
  cmd->add_option("-e,--events", f->events, "Number of events (of the whole run, with --shard)")->capture_default_str();
  cmd->add_option("--seed", f->seed, "Random seed")->capture_default_str();
  cmd->add_option("-o,--out", f->outputs, "Output file(s): .pt, .hepmc3 (.hepmc), .lhe")->required();
  cmd->add_option("--batch", f->batch, "Events sampled together (sets the memory used)")->capture_default_str();
  cmd->add_option("--variance", f->variance,
                  "langevin models: paper (2 gamma_t) or posterior (noiseless last step); default: the card's");
  cmd->add_option("--solver", f->solver, "flow models: euler, heun or rk4 (default: the card's)");
  cmd->add_option("--sampler", f->sampler, "langevin models: em or heun (the probability-flow ODE); vp models: ddpm, ddim, heun or dpmpp2m (default: the card's)");
  cmd->add_option("--grid", f->grid, "vp models: time or logsnr steps (default: the card's)");
  cmd->add_option("--nfe", f->nfe, "network evaluations per event (default: the card's)");
  cmd->add_option("--trajectory-every", f->trajectory_every,
                  "Also keep every k-th state of the sampling path (reverse diffusion or sampler steps), mapped to phase space");
  cmd->add_option("--trajectory-out", f->trajectory_out, "Where the states go: a .pt dict {steps, events}");
  cmd->add_option("--trajectory-events", f->trajectory_events, "Events kept per state (the first ones of the first batch)")->capture_default_str();
  cmd->add_option("--workers", f->workers,
                  "CPU threads sampling parts of each batch side by side, one core each (0: one per CPU, at most one "
                  "per 128 events of --batch); "
                  "the events depend on the seed and this count")
      ->capture_default_str();
  cmd->add_option("--device", f->device,
                  "auto (a CUDA GPU where LibTorch has CUDA and one is visible, else the CPU), cpu or cuda")
      ->capture_default_str();
  cmd->add_option("--shard", f->shard,
                  "i/n: shard i (1..n) of a run split over n jobs: its share of --events from its own random stream; "
                  "phasegen merge joins the shard files (write them as .hepmc3, .lhe or .pt)");
  cmd->add_option("--weights", f->weights.target,
                  "uniform, muon or qqg: write each event with its exact weight against this target (flow models); "
                  "its settings as for data (--msq, --symmetrize, --sqrt-s, --particles)");
  f->weights.add_settings(cmd);
  cmd->add_flag("--unweight", f->unweight,
                "With --weights: unit-weight events by accept / reject against the largest weight of a first pass "
                "(over-weights keep w / w_max)");
  cmd->add_option("--first-pass", f->first_pass, "--unweight: events of the first pass (default: as many as --events)");
  cmd->callback([f] { run_sample(*f); });
}

}  // namespace phasegen::cli
