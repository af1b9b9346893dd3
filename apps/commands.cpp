#include "commands.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <iostream>
#include <memory>
#include <vector>

#include "cli_support.hpp"
#include "output_set.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen::cli {

namespace {



struct PhasespaceOptions {
  std::int64_t particles = 5;
  std::int64_t events = 100000;
  double sqrt_s = 91.2;
  std::uint64_t seed = 1;
  std::vector<std::string> outputs;
  std::vector<int> pdg_ids;
  std::vector<int> beams{11, -11};
  std::int64_t batch = 65536;
};

void check_phasespace_options(const PhasespaceOptions& o) {
  PHASEGEN_CHECK(o.particles >= 2, "--particles: expected N >= 2 massless particles, but got ", o.particles);
  PHASEGEN_CHECK(o.particles <= 100000, "--particles: expected N <= 100000, but got ", o.particles);
  PHASEGEN_CHECK(o.events >= 1, "--events: expected a positive number of events, but got ", o.events);
  PHASEGEN_CHECK(std::isfinite(o.sqrt_s) && o.sqrt_s > 0,
                 "--sqrt-s: expected a positive, finite total energy in GeV, but got ", o.sqrt_s);
  PHASEGEN_CHECK(o.batch >= 1, "--batch: expected a positive batch size, but got ", o.batch);
  PHASEGEN_CHECK(!o.outputs.empty(), "--out: expected at least one output file (.pt, .hepmc3, .lhe)");
  PHASEGEN_CHECK(o.beams.size() == 2, "--beams: expected two PDG ids, but got ", o.beams.size());
  for (const auto& path : o.outputs) format_from_path(path);
}

std::string describe(const PhasespaceOptions& o) {
  return detail::concat("uniform massless phase space (RAMBO), N = ", o.particles, ", sqrt_s = ", o.sqrt_s,
                        " GeV");
}

void run_phasespace(const PhasespaceOptions& o) {
  configure_threads(Workload::kGeneration);
  check_phasespace_options(o);
  WriterOptions wopts;
  wopts.particles = o.particles;
  wopts.sqrt_s = o.sqrt_s;
  wopts.pdg_ids = o.pdg_ids;
  wopts.beam_ids = {o.beams[0], o.beams[1]};
  wopts.run = make_run_info(describe(o));
  wopts.run.seed = o.seed;
  wopts.run.attributes = {{"command", "phasespace"},
                          {"particles", std::to_string(o.particles)},
                          {"events", std::to_string(o.events)},
                          {"sqrt_s", detail::concat(o.sqrt_s)},
                          {"batch", std::to_string(o.batch)}};
  // Open every output first: a bad path fails before any work is done.
  OutputSet outputs(o.outputs, wopts);

  at::Generator gen = make_generator(o.seed);
  const auto start = Clock::now();
  const double generate_seconds = generate_into(outputs, o.events, o.batch, "phasespace", [&](std::int64_t n) {
    return sample_uniform_phase_space(n, o.particles, o.sqrt_s, gen);
  });
  const double total_seconds = seconds_since(start);

  std::cout << "phasegen phasespace: " << describe(o) << ", seed " << o.seed << "\n"
            << "  events              " << o.events << "\n"
            << "  generation          " << format_number(generate_seconds) << " s, "
            << format_number(o.events / std::max(generate_seconds, 1e-9)) << " events/s ("
            << at::get_num_threads() << " thread" << (at::get_num_threads() > 1 ? "s" : "") << ")\n"
            << "  total with output   " << format_number(total_seconds) << " s\n";
  print_exactness(std::cout, outputs);
  std::cout << "  phase-space volume  Phi_" << o.particles << " = "
            << format_number(phase_space_volume(o.particles, o.sqrt_s), 6) << " GeV^" << 2 * (o.particles - 2)
            << " (log " << format_number(log_phase_space_volume(o.particles, o.sqrt_s), 8) << ")\n";
  outputs.print_written(std::cout);
}

struct InspectOptions {
  std::string path;
  double tolerance = 1e-6;
};

void run_inspect(const InspectOptions& o) {
  PHASEGEN_CHECK(o.tolerance > 0 && std::isfinite(o.tolerance),
                 "--tolerance: expected a positive tolerance, but got ", o.tolerance);
  ReadOptions ropts;
  ropts.tolerance = o.tolerance;
  EventSet set = read_events(o.path, ropts);
  const auto n = set.momenta.size(0);
  const auto particles = set.momenta.size(1);
  at::Tensor mean_e = sorted_energies(set.momenta).mean(0);
  std::cout << o.path << ": " << format_name(format_from_path(o.path)) << ", " << n << " events of N = "
            << particles << " massless particles, sqrt_s = " << format_number(set.sqrt_s, 10) << " GeV\n";
  if (!set.pdg_ids.empty()) {
    std::cout << "  PDG ids             ";
    for (int id : set.pdg_ids) std::cout << id << ' ';
    std::cout << '\n';
  }
  std::cout << "  worst conservation  "
            << format_number(conservation_violation(set.momenta, set.sqrt_s).max().item<double>()) << "\n"
            << "  worst masslessness  " << format_number(mass_violation(set.momenta, set.sqrt_s).max().item<double>())
            << "\n  mean sorted E / GeV ";
  for (std::int64_t i = 0; i < particles && i < 12; ++i) std::cout << format_number(mean_e[i].item<double>(), 4) << ' ';
  std::cout << (particles > 12 ? "...\n" : "\n");
  if (set.weights.defined()) {
    const WeightInfo& w = set.weight_info;
    const double sum = set.weights.sum().item<double>();
    std::cout << "  weights             " << weight_mode_name(w.mode) << " ('" << w.name << "'), mean "
              << format_number(set.weights.mean().item<double>(), 6) << ", largest "
              << format_number(set.weights.max().item<double>()) << ", ESS/n "
              << format_number(sum * sum / (static_cast<double>(n) * set.weights.pow(2).sum().item<double>())) << "\n"
              << "  cross section       " << format_number(w.cross_section, 6) << " +- " << format_number(w.error, 2)
              << (w.unit.empty() ? "" : " " + w.unit) << "\n";
  }
  if (!set.run.version.empty()) {
    std::cout << "  made by             phasegen " << set.run.version << " (" << set.run.commit << ")\n"
              << "  description         " << set.run.description << "\n";
    if (set.run.seed) std::cout << "  seed                " << *set.run.seed << "\n";
    for (const auto& [key, value] : set.run.attributes) std::cout << "  " << key << " = " << value << "\n";
  }
}

}  // namespace

void add_phasespace_command(CLI::App& app) {
  auto opts = std::make_shared<PhasespaceOptions>();
  CLI::App* cmd = app.add_subcommand(
      "phasespace", "Generate uniformly distributed massless N-body events (RAMBO) in the CM frame");
  cmd->add_option("-n,--particles", opts->particles, "Number of massless particles N (>= 2)")
      ->capture_default_str();
  cmd->add_option("-e,--events", opts->events, "Number of events")->capture_default_str();
  cmd->add_option("--sqrt-s", opts->sqrt_s, "Total energy sqrt(s) in GeV")->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Random seed")->capture_default_str();
  cmd->add_option("-o,--out", opts->outputs,
                  "Output file(s); the format follows the extension: .pt, .hepmc3 (.hepmc), .lhe")
      ->required();
  cmd->add_option("--pdg", opts->pdg_ids, "PDG id of every particle, or one per particle (default 22)");
  cmd->add_option("--beams", opts->beams, "PDG ids of the beams along +z and -z")
      ->expected(2)
      ->capture_default_str();
  cmd->add_option("--batch", opts->batch, "Events generated per batch (sets the memory used)")
      ->capture_default_str();
  cmd->callback([opts] { run_phasespace(*opts); });
}

void add_inspect_command(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Read and validate an event file and summarise it");
  cmd->add_option("file", opts->path, "Event file (.pt, .hepmc3, .lhe)")->required();
  cmd->add_option("--tolerance", opts->tolerance,
                  "Largest accepted violation of masslessness and momentum conservation, relative to sqrt(s)")
      ->capture_default_str();
  cmd->callback([opts] { run_inspect(*opts); });
}

}  // namespace phasegen::cli
