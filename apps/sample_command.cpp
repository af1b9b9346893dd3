// phasegen sample: events from a trained checkpoint, optionally with the states of the reverse path.
#include <iostream>
#include <memory>
#include <sstream>

#include "cli_support.hpp"
#include "commands.hpp"
#include "output_set.hpp"
#include "phasegen/error.hpp"
#include "phasegen/event_io.hpp"
#include "phasegen/models.hpp"
#include "phasegen/observables.hpp"
#include "phasegen/train.hpp"

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
  std::int64_t nfe = 0;
  std::int64_t trajectory_every = 0;
  std::string trajectory_out;
  std::int64_t trajectory_events = 10000;
};

std::vector<int> parse_ids(const std::string& text) {
  std::vector<int> ids;
  std::istringstream in(text);
  int id;
  while (in >> id) ids.push_back(id);
  return ids;
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
  PHASEGEN_CHECK(f.trajectory_events >= 1, "--trajectory-events: expected >= 1, but got ", f.trajectory_events);
  if (trajectory) check_writable_location(f.trajectory_out);  // before sampling, not after it

  Checkpoint checkpoint = load_checkpoint(f.checkpoint);
  const std::string& kind = checkpoint.info.model;
  PHASEGEN_CHECK(kind == "langevin" || kind == "flow", "checkpoint '", f.checkpoint, "' holds a '", kind,
                 "' model; this command samples langevin and flow models");
  PHASEGEN_CHECK(kind == "langevin" || f.variance.empty(), "--variance applies to langevin models only");
  PHASEGEN_CHECK(kind == "flow" || (f.solver.empty() && f.nfe == 0), "--solver and --nfe apply to flow models only");
  std::unique_ptr<LangevinModel> langevin;
  std::unique_ptr<FlowModel> flow;
  std::string variance_or_solver;
  if (kind == "langevin") {
    LangevinModel stored = LangevinModel::from_settings_text(checkpoint.info.settings);
    DiffusionOptions diffusion = stored.diffusion().options();
    if (!f.variance.empty()) diffusion.variance = f.variance;
    diffusion.validate();
    langevin = std::make_unique<LangevinModel>(diffusion, stored.lift(), stored.sqrt_s());
    variance_or_solver = "variance " + diffusion.variance;
  } else {
    FlowModel stored = FlowModel::from_settings_text(checkpoint.info.settings);
    const OdeSolver solver = f.solver.empty() ? stored.flow().solver() : ode_solver_from_name(f.solver);
    const std::int64_t nfe = f.nfe > 0 ? f.nfe : stored.flow().nfe();
    flow = std::make_unique<FlowModel>(FlowMatching(stored.flow().prior(), solver, nfe, stored.flow().gaussian()),
                                       stored.lift(), stored.sqrt_s());
    variance_or_solver = std::string("solver ") + ode_solver_name(solver) + ", " + std::to_string(nfe) + " NFE";
  }
  const double sqrt_s = langevin ? langevin->sqrt_s() : flow->sqrt_s();
  const std::string description = langevin ? langevin->description() : flow->description();
  const std::int64_t particles = std::stoll(key_value(checkpoint.info.data, "particles"));

  WriterOptions wopts;
  wopts.particles = particles;
  wopts.sqrt_s = sqrt_s;
  wopts.pdg_ids = parse_ids(key_value(checkpoint.info.data, "pdg_ids"));
  if (static_cast<std::int64_t>(wopts.pdg_ids.size()) != particles) wopts.pdg_ids.clear();
  wopts.run = make_run_info("sampled from " + f.checkpoint + " (step " + std::to_string(checkpoint.step) + "): " +
                            description);
  wopts.run.seed = static_cast<std::uint64_t>(f.seed);
  wopts.run.attributes = {{"command", "sample"},
                          {"checkpoint", f.checkpoint},
                          {"checkpoint_step", std::to_string(checkpoint.step)},
                          {"sampler", variance_or_solver},
                          {"card", checkpoint.info.card}};
  OutputSet outputs(f.outputs, wopts);

  at::Generator gen = make_generator(static_cast<std::uint64_t>(f.seed));
  std::vector<std::int64_t> steps;
  std::vector<at::Tensor> states;
  double worst_state = 0.0;
  bool first_batch = true;
  const auto start = Clock::now();
  const double seconds = generate_into(outputs, f.events, f.batch, "sample", [&](std::int64_t n) {
    const bool record = trajectory && first_batch;
    first_batch = false;
    const std::int64_t keep = std::min(n, f.trajectory_events);
    auto keep_state = [&](std::int64_t t, const at::Tensor& events) {
      worst_state = std::max({worst_state, conservation_violation(events, sqrt_s).max().item<double>(),
                              mass_violation(events, sqrt_s).max().item<double>()});
      steps.push_back(t);
      states.push_back(events.narrow(0, 0, keep).clone());
    };
    if (langevin) {
      return langevin->sample_events(*checkpoint.net, n, particles, gen, record ? f.trajectory_every : 0, keep_state);
    }
    if (!record) return flow->sample_events(*checkpoint.net, n, particles, gen);
    // ODE steps are numbered 0 (the prior draw) to S; keep every k-th and the last.
    const std::int64_t last = steps_for_budget(flow->flow().solver(), flow->flow().nfe());
    return flow->sample_events(*checkpoint.net, n, particles, gen, [&](std::int64_t step, const at::Tensor& events) {
      if (step % f.trajectory_every == 0 || step == last) keep_state(step, events);
    });
  });
  if (trajectory) write_trajectory(f.trajectory_out, {at::tensor(steps, at::kLong), at::stack(states, 0)});
  std::cout << "phasegen sample: " << f.events << " events from '" << f.checkpoint << "' (step " << checkpoint.step
            << (checkpoint.ema ? ", EMA weights" : "") << "), seed " << f.seed << "\n"
            << "  model               " << description << "\n"
            << "  network             " << checkpoint.net->description() << "\n"
            << "  sampling            " << format_number(seconds) << " s, " << format_number(f.events / seconds)
            << " events/s, " << (langevin ? std::to_string(langevin->diffusion().schedule().steps()) + " steps"
                                                     : variance_or_solver)
            << "\n"
            << "  total with output   " << format_number(seconds_since(start)) << " s\n";
  print_exactness(std::cout, outputs);
  if (trajectory) {
    std::cout << "  trajectory          " << states.size() << " states of " << states.front().size(0)
              << " events every " << f.trajectory_every << " steps; worst violation over them "
              << format_number(worst_state) << "\n"
              << "  wrote               " << f.trajectory_out << " (dict: steps [S], events [S, n, N, 4])\n";
  }
  outputs.print_written(std::cout);
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto f = std::make_shared<SampleFlags>();
  CLI::App* cmd = app.add_subcommand("sample", "Sample events from a trained checkpoint");
  cmd->add_option("--checkpoint", f->checkpoint, "Checkpoint written by phasegen train")->required();
  cmd->add_option("-e,--events", f->events, "Number of events")->capture_default_str();
  cmd->add_option("--seed", f->seed, "Random seed")->capture_default_str();
  cmd->add_option("-o,--out", f->outputs, "Output file(s): .pt, .hepmc3 (.hepmc), .lhe")->required();
  cmd->add_option("--batch", f->batch, "Events sampled together (sets the memory used)")->capture_default_str();
  cmd->add_option("--variance", f->variance, "paper (2 gamma_t) or posterior (noiseless last step); default: the card's");
  cmd->add_option("--solver", f->solver, "flow models: euler, heun or rk4 (default: the card's)");
  cmd->add_option("--nfe", f->nfe, "flow models: network evaluations per event (default: the card's)");
  cmd->add_option("--trajectory-every", f->trajectory_every,
                  "Also keep every k-th state of the sampling path (reverse diffusion steps or ODE steps), mapped to phase space");
  cmd->add_option("--trajectory-out", f->trajectory_out, "Where the states go: a .pt dict {steps, events}");
  cmd->add_option("--trajectory-events", f->trajectory_events, "Events kept per state")->capture_default_str();
  cmd->callback([f] { run_sample(*f); });
}

}  // namespace phasegen::cli
