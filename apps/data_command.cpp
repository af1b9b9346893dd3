// phasegen data: the paper's training and test sets from a run card and flags.
#include <ATen/Parallel.h>

#include <iostream>
#include <memory>
#include <optional>

#include "cli_support.hpp"
#include "commands.hpp"
#include "output_set.hpp"
#include "phasegen/io/card.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/physics/targets.hpp"

namespace phasegen::cli {

namespace {

constexpr std::int64_t kDefaultEvents = 100000;

struct DataFlags {
  std::string card;
  bool dry_run = false;
  std::string target;
  double sqrt_s = 1.0;
  std::int64_t particles = 3;
  double msq = 1e-3;
  bool symmetrize = false;
  double xi_max = 30.0;
  bool shuffle = true;
  std::string in;
  std::int64_t events = kDefaultEvents;
  std::int64_t seed = 1;
  std::string out;
  std::int64_t test_events = 0;
  std::int64_t test_seed = 2;
  std::string test_out;
  std::vector<std::pair<CLI::Option*, std::string>> given;  // option -> card key
};

// One set to make: events, seed, output path.
struct SetPlan {
  std::string label;
  std::int64_t events;
  std::uint64_t seed;
  std::string out;
};

std::vector<SetPlan> plan_sets(const CardSection& card) {
  PHASEGEN_CHECK(card.has("out"), "out: expected an output file (--out or 'out' in the card's [data] table)");
  std::vector<SetPlan> sets;
  const std::int64_t events = card.has("events") ? card.get_int("events") : 0;  // file: 0 = all
  PHASEGEN_CHECK(events >= 1 || !card.has("events"), "events: expected a positive number of events, but got ",
                 events);
  const std::int64_t seed = card.has("seed") ? card.get_int("seed") : 0;  // file: no seed
  PHASEGEN_CHECK(seed >= 0, "seed: expected a seed >= 0, but got ", seed);
  format_from_path(card.get_string("out"));
  sets.push_back({"training set", events, static_cast<std::uint64_t>(seed), card.get_string("out")});
  if (card.has("test_out")) {
    PHASEGEN_CHECK(card.has("test_seed"), "test_out: target 'file' converts one file and makes no test set");
    format_from_path(card.get_string("test_out"));
    const std::int64_t test_events = card.has("test_events") ? card.get_int("test_events") : events;
    PHASEGEN_CHECK(test_events >= 1, "test_events: expected a positive number of events, but got ", test_events);
    PHASEGEN_CHECK(card.get_int("test_seed") != card.get_int("seed"), "test_seed: expected a seed other than seed = ",
                   card.get_int("seed"), ", or the test set would repeat the training set");
    PHASEGEN_CHECK(card.get_string("test_out") != card.get_string("out"),
                   "test_out: expected a file other than out = '", card.get_string("out"), "'");
    sets.push_back({"test set", test_events, static_cast<std::uint64_t>(card.get_int("test_seed")),
                    card.get_string("test_out")});
  }
  return sets;
}

WriterOptions writer_options(const TargetSpec& spec, const std::string& resolved, const CardSection& card,
                             std::uint64_t seed) {
  WriterOptions o;
  o.particles = spec.n_particles();
  o.sqrt_s = spec.sqrt_s;
  o.pdg_ids = spec.pdg_ids();
  o.run = make_run_info(spec.description());
  o.run.seed = seed;
  o.run.attributes = {{"command", "data"}, {"card", resolved}};
  if (!card.source().empty()) o.run.attributes.emplace_back("card_file", card.source());
  return o;
}

void generate_set(const TargetSpec& spec, const SetPlan& set, const std::string& resolved, const CardSection& card) {
  OutputSet outputs({set.out}, writer_options(spec, resolved, card, set.seed));
  EventGenerator generator(spec);
  at::Generator gen = make_generator(set.seed);
  const auto start = Clock::now();
  const double generate_seconds =
      generate_into(outputs, set.events, kGenerateChunk, std::string("data ") + target_name(spec.kind) + " " + set.label,
                    [&](std::int64_t n) { return generator.generate(n, gen); });
  const GenerationStats& stats = generator.stats();
  std::cout << "phasegen data: " << set.label << ", " << spec.description() << ", seed " << set.seed << "\n"
            << "  events              " << set.events << "\n"
            << "  acceptance          " << format_number(stats.efficiency(), 5) << " (" << stats.accepted << " of "
            << stats.proposed << " proposals)\n";
  if (stats.has_integral) {
    std::cout << "  integral            " << format_number(stats.integral(), 7) << " +- "
              << format_number(stats.integral_error(), 2) << "  (" << stats.integral_unit << ")\n";
  }
  std::cout << "  generation          " << format_number(generate_seconds) << " s, "
            << format_number(set.events / std::max(generate_seconds, 1e-9)) << " events/s\n"
            << "  total with output   " << format_number(seconds_since(start)) << " s\n";
  print_exactness(std::cout, outputs);
  outputs.print_written(std::cout);
}

void convert_file(const CardSection& card, const std::vector<SetPlan>& sets, const std::string& resolved) {
  PHASEGEN_CHECK(card.has("in"), "in: expected an input event file for target 'file' (--in or 'in' in the card)");
  const std::string in = card.get_string("in");
  EventSet set = read_events(in);
  const std::int64_t available = set.momenta.size(0);
  const std::int64_t events = card.has("events") ? std::min(card.get_int("events"), available) : available;
  WriterOptions o;
  o.particles = set.momenta.size(1);
  o.sqrt_s = set.sqrt_s;
  o.pdg_ids = set.pdg_ids;
  o.run = make_run_info("events of '" + in + "', validated" +
                        (set.run.description.empty() ? std::string() : ": " + set.run.description));
  o.run.seed = set.run.seed;
  o.run.attributes = {{"command", "data"}, {"card", resolved}};
  OutputSet outputs({sets[0].out}, o);
  outputs.write(set.momenta.narrow(0, 0, events));
  outputs.close();
  std::cout << "phasegen data: " << events << " of " << available << " events of '" << in << "' (N = "
            << o.particles << ", sqrt_s = " << format_number(o.sqrt_s, 10) << " GeV) validated\n";
  print_exactness(std::cout, outputs);
  outputs.print_written(std::cout);
}

void run_data(DataFlags& flags) {
  configure_threads(Workload::kGeneration);
  CardSection card = TargetSpec::schema();
  card.set("target", std::string("uniform"));
  card.set("sqrt_s", 1.0);
  card.set("particles", std::int64_t{3});
  card.set("msq", 1e-3);
  card.set("symmetrize", false);
  card.set("xi_max", 30.0);
  card.set("shuffle", true);
  card.set("seed", std::int64_t{1});
  card.set("test_seed", std::int64_t{2});
  if (!flags.card.empty()) card.load(flags.card);
  for (auto& [option, key] : flags.given) {
    if (option->count() == 0) continue;
    if (key == "symmetrize") {
      card.set(key, true);
    } else if (key == "shuffle") {
      card.set(key, false);  // --no-shuffle
    } else {
      card.set_text(key, option->as<std::string>(), option->get_name());
    }
  }
  const std::string target = card.get_string("target");
  const bool from_file = target == "file";
  // Settings of other targets do not apply; the resolved card leaves them out.
  if (target != "uniform" && target != "aps") card.erase("particles");
  if (target != "qqg") card.erase("msq"), card.erase("symmetrize");
  if (target != "aps") card.erase("xi_max"), card.erase("shuffle");
  if (!from_file) card.erase("in");
  if (from_file) card.erase("sqrt_s"), card.erase("seed"), card.erase("test_seed");
  if (!from_file && !card.has("events")) card.set("events", kDefaultEvents);
  std::optional<TargetSpec> spec;
  if (!from_file) spec = TargetSpec::from_table(card);
  const std::vector<SetPlan> sets = plan_sets(card);
  const std::string resolved = card.to_toml();
  if (flags.dry_run) {
    std::cout << "# resolved run card" << (card.source().empty() ? "" : " (from " + card.source() + " and flags)")
              << "\n"
              << resolved;
    return;
  }
  if (from_file) {
    convert_file(card, sets, resolved);
    return;
  }
  for (const auto& set : sets) generate_set(*spec, set, resolved, card);
}

}  // namespace

void add_data_command(CLI::App& app) {
  auto flags = std::make_shared<DataFlags>();
  CLI::App* cmd = app.add_subcommand("data", "Generate a training/test set of the paper (or convert an event file)");
  auto add = [&](const std::string& names, auto& variable, const std::string& help, const std::string& key) {
    CLI::Option* option = cmd->add_option(names, variable, help);
    flags->given.emplace_back(option, key);
    return option;
  };
  cmd->add_option("--card", flags->card, "TOML run card; its [data] table sets defaults that flags override");
  cmd->add_flag("--dry-run", flags->dry_run, "Print the resolved run card and exit");
  add("-t,--target", flags->target, "uniform, muon, qqg, aps or file (default uniform)", "target");
  add("--sqrt-s", flags->sqrt_s, "Total energy sqrt(s) in GeV (default 1)", "sqrt_s");
  add("-n,--particles", flags->particles, "N for uniform (>= 2) and aps (>= 3) (default 3)", "particles");
  add("--msq", flags->msq, "qqg: cut s_ij/s >= msq, 0 < msq < 1/3 (default 1e-3)", "msq");
  flags->given.emplace_back(cmd->add_flag("--symmetrize", "qqg: shuffle the particle order of every event"),
                            "symmetrize");
  add("--xi-max", flags->xi_max, "aps: antenna variables in [1/xi_max, xi_max], xi_max > 1 (default 30)", "xi_max");
  flags->given.emplace_back(cmd->add_flag("--no-shuffle", "aps: keep the antenna-chain order of the particles"),
                            "shuffle");
  add("--in", flags->in, "file: the event file to validate and convert", "in");
  add("-e,--events", flags->events, "Number of events (default 100000; file: all)", "events");
  add("--seed", flags->seed, "Random seed of the training set (default 1)", "seed");
  add("-o,--out", flags->out, "Output file: .pt, .hepmc3 (.hepmc) or .lhe", "out");
  add("--test-events", flags->test_events, "Events of the test set (default: as --events)", "test_events");
  add("--test-seed", flags->test_seed, "Seed of the test set (default 2; must differ from --seed)", "test_seed");
  add("--test-out", flags->test_out, "Output file of a test set drawn with --test-seed", "test_out");
  cmd->callback([flags] { run_data(*flags); });
}

}  // namespace phasegen::cli
