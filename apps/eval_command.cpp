// phasegen eval: every figure of merit of one or more sample sets against a truth, each beside its
// truth-vs-truth floor: W1, KS and chi2 per observable, a classifier two-sample test (ROC AUC), and
// the conservation metrics. A printed table and DIR/eval.json.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "cli_support.hpp"
#include "commands.hpp"
#include "plots.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/eval/evaluate.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/core/random.hpp"
#include "phasegen/training/checkpoint.hpp"

namespace phasegen::cli {

namespace {

struct EvalFlags {
  std::string truth;
  std::vector<std::string> samples;
  std::vector<std::string> labels;
  std::string out;
  std::vector<std::string> observables;
  int bins = 50;
  double tolerance = 1e-6;
  std::int64_t classifier_events = 20000;
  std::int64_t classifier_steps = 1500;
  std::int64_t seed = 1;
  bool no_plots = false;
  std::string checkpoint;
  std::string trajectory;
};

// Observables drawn by default: the labelled energies, the Rosenblatt variables and the nearest
// singularity for N = 3; the extreme sorted energies, log10(tau/s), thrust and C otherwise.
std::vector<std::string> default_plotted(std::int64_t particles) {
  if (particles == 3) return {"E_1", "E_2", "E_3", "u1", "u2", "log10(tau/s)"};
  return {"E_(1)", "E_(" + std::to_string(particles) + ")", "log10(tau/s)", "thrust", "C"};
}

std::string file_name(const std::string& observable) {
  std::string out;
  for (const char c : observable) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

// Every figure of the evaluation into DIR/plots; returns the image paths relative to DIR.
std::vector<std::string> draw_plots(const EvalFlags& flags, const EventSet& truth, const std::vector<JudgedEvents>& sets,
                                    const std::optional<CheckpointRecord>& checkpoint,
                                    const std::optional<Trajectory>& trajectory) {
  Plotter plotter((std::filesystem::path(flags.out) / "plots").string());
  const std::int64_t particles = truth.momenta.size(1);
  const double sqrt_s = truth.sqrt_s;
  std::vector<std::string> written;
  auto keep = [&](const std::string& png) {
    written.push_back(std::filesystem::relative(png, flags.out).string());
  };
  // Flat phase space as the no-model reference, as many events as the largest set (at most 100k).
  std::int64_t flat_events = 0;
  for (const auto& set : sets) flat_events = std::max(flat_events, set.events.size(0));
  at::Generator gen = stream_generator(static_cast<std::uint64_t>(flags.seed), Stream::kEvalFlat, 0);
  const at::Tensor flat = sample_uniform_phase_space(std::min<std::int64_t>(flat_events, 100000), particles, sqrt_s, gen);
  const std::vector<std::string> names = flags.observables.empty() ? default_plotted(particles) : flags.observables;
  for (const auto& observable : named_observables(particles, names)) {
    const std::string unit = observable.unit.empty() ? "" : " [" + observable.unit + "]";
    std::vector<Series> series = {{"truth", observable.compute(truth.momenta, sqrt_s)}};
    for (std::size_t k = 0; k < sets.size(); ++k) series.push_back({sets[k].label, observable.compute(sets[k].events, sqrt_s)});
    series.push_back({"flat phase space", observable.compute(flat, sqrt_s)});
    const bool unit_interval = observable.name == "u1" || observable.name == "u2";
    keep(plotter.histogram("hist_" + file_name(observable.name), observable.name + ": truth, models, flat phase space",
                           observable.name + unit, series, 50, 0.0, unit_interval ? 1.0 : 0.0));
  }
  if (particles == 3) {
    std::vector<Series> panels = {{"truth", dalitz_energies(truth.momenta)}};
    for (std::size_t k = 0; k < sets.size(); ++k) panels.push_back({sets[k].label, dalitz_energies(sets[k].events)});
    panels.push_back({"flat phase space", dalitz_energies(flat)});
    keep(plotter.dalitz("dalitz", panels, sqrt_s));
  }
  if (checkpoint) {
    auto points = [](const std::vector<std::pair<std::int64_t, double>>& curve) {
      std::vector<std::pair<double, double>> out;
      for (const auto& [step, loss] : curve) out.emplace_back(static_cast<double>(step), loss);
      return out;
    };
    keep(plotter.curves("loss", "training of " + flags.checkpoint, "step",
                        "loss", {{"training", points(checkpoint->train_curve)}, {"validation", points(checkpoint->validation_curve)}}));
  }
  if (trajectory) {
    // The reverse process: one observable at about five states from uniform phase space to the data.
    const NamedObservable observable = named_observables(particles, {particles == 3 ? "E_1" : "log10(tau/s)"}).front();
    const std::int64_t states = trajectory->steps.size(0);
    std::vector<Series> series = {{"truth", observable.compute(truth.momenta, sqrt_s)}};
    std::vector<std::int64_t> picked;
    for (int k = 0; k < 5; ++k) picked.push_back(states == 1 ? 0 : (states - 1) * k / 4);
    picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
    for (const std::int64_t s : picked) {
      series.push_back({"state at step " + std::to_string(trajectory->steps[s].item<std::int64_t>()),
                        observable.compute(trajectory->events[s], sqrt_s)});
    }
    const std::string unit = observable.unit.empty() ? "" : " [" + observable.unit + "]";
    keep(plotter.histogram("evolution", "sampling path of " + flags.trajectory + ": " + observable.name,
                           observable.name + unit, series, 25));
  }
  return written;
}

// What eval prints, kept to be written to DIR/eval.txt (the report shows it).
std::string g_printed;
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void say(const char* format, ...) {
  char buffer[4096];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  std::fputs(buffer, stdout);
  g_printed += buffer;
}

void run_eval(const EvalFlags& flags) {
  g_printed.clear();
  configure_threads(Workload::kNetwork);
  PHASEGEN_CHECK(!flags.samples.empty(), "--samples: expected at least one sample file");
  PHASEGEN_CHECK(flags.labels.empty() || flags.labels.size() == flags.samples.size(), "--label: expected one label per --samples (",
                 flags.samples.size(), "), but got ", flags.labels.size());
  PHASEGEN_CHECK(flags.bins >= 2, "--bins: expected at least 2 bins, but got ", flags.bins);
  PHASEGEN_CHECK(flags.classifier_events >= 40, "--classifier-events: expected at least 40, but got ",
                 flags.classifier_events);
  PHASEGEN_CHECK(flags.classifier_steps >= 1, "--classifier-steps: expected at least 1, but got ", flags.classifier_steps);
  PHASEGEN_CHECK(flags.seed >= 0, "--seed: expected a seed >= 0, but got ", flags.seed);
  PHASEGEN_CHECK(!flags.out.empty(), "--out: expected an output directory");

  ReadOptions ropts;
  ropts.tolerance = flags.tolerance;
  const EventSet truth = read_events(flags.truth, ropts);
  const std::int64_t n_truth = truth.momenta.size(0);
  PHASEGEN_CHECK(n_truth >= 80, "'", flags.truth, "': expected at least 80 truth events (two halves for the floors), but got ",
                 n_truth);
  const std::int64_t particles = truth.momenta.size(1);
  const double sqrt_s = truth.sqrt_s;
  named_observables(particles, flags.observables);  // an unknown name fails before any work
  std::vector<JudgedEvents> sets;
  for (std::size_t k = 0; k < flags.samples.size(); ++k) {
    sets.push_back(read_judged(flags.samples[k], truth, flags.truth, flags.tolerance));
    PHASEGEN_CHECK(sets.back().events.size(0) >= 40, "'", flags.samples[k], "': expected at least 40 events, but got ",
                   sets.back().events.size(0));
    if (!flags.labels.empty()) sets.back().label = flags.labels[k];
  }

  std::optional<CheckpointRecord> checkpoint;
  if (!flags.checkpoint.empty()) checkpoint = CheckpointReader(flags.checkpoint).record();
  std::optional<Trajectory> trajectory;
  if (!flags.trajectory.empty()) {
    trajectory = read_trajectory(flags.trajectory, ropts);
    PHASEGEN_CHECK(trajectory->events.size(2) == particles, "'", flags.trajectory, "' has events of N = ",
                   trajectory->events.size(2), " particles, but the truth '", flags.truth, "' has N = ", particles);
  }
  // Inputs first, then the output directory: bad input leaves nothing behind.
  std::error_code ec;
  std::filesystem::create_directories(flags.out, ec);
  PHASEGEN_CHECK(!ec && std::filesystem::is_directory(flags.out), "--out: cannot create the directory '", flags.out,
                 "'", ec ? ": " + ec.message() : std::string());
  const std::string json_path = (std::filesystem::path(flags.out) / "eval.json").string();
  check_writable_location(json_path);

  say("phasegen eval: truth '%s' (%lld events), N = %lld, sqrt_s = %s GeV\n", flags.truth.c_str(),
      static_cast<long long>(n_truth), static_cast<long long>(particles), format_number(sqrt_s, 10).c_str());
  const EvalOptions options = EvalOptions()
                                  .observables(flags.observables)
                                  .bins(flags.bins)
                                  .classifier_options(ClassifierOptions()
                                                          .max_events(flags.classifier_events)
                                                          .steps(flags.classifier_steps)
                                                          .seed(static_cast<std::uint64_t>(flags.seed)));
  const EvalResult result = evaluate(truth.momenta, sqrt_s, sets, options, [](const std::string& what) {
    check_interrupt("interrupted (eval); no output was written");
    std::fflush(stdout);
    std::fprintf(stderr, "eval: %s\n", what.c_str());
  });
  for (const SetResult& set : result.sets) say("%s%s\n", eval_table(result, set).c_str(), headline(set).c_str());

  std::vector<std::string> plots;
  if (!flags.no_plots) {
    std::fflush(stdout);
    std::fprintf(stderr, "eval: plots\n");
    plots = draw_plots(flags, truth, sets, checkpoint, trajectory);
  }
  write_text_file(json_path, eval_json(result, flags.truth, plots));
  write_text_file((std::filesystem::path(flags.out) / "eval.txt").string(), g_printed);
  // The run card of the checkpoint, for the report.
  if (checkpoint && !checkpoint->card.empty()) {
    const std::filesystem::path cards = std::filesystem::path(flags.out) / "cards";
    std::filesystem::create_directories(cards, ec);
    write_text_file((cards / (std::filesystem::path(flags.checkpoint).stem().string() + ".toml")).string(),
                    "# resolved run card of " + flags.checkpoint + " (step " + std::to_string(checkpoint->step) +
                        ")\n" + checkpoint->card);
  }
  std::printf("\nwritten %s and eval.txt beside it\n", json_path.c_str());
  std::fflush(stdout);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto flags = std::make_shared<EvalFlags>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Judge sample sets against a truth: per-observable W1, KS and chi2, a classifier two-sample test "
              "(ROC AUC) and the conservation metrics, each beside its truth-vs-truth floor; a table and DIR/eval.json");
  cmd->add_option("--truth", flags->truth, "Reference events (the truth)")->required();
  cmd->add_option("--samples", flags->samples, "Events to judge (repeat for several sets)")->required();
  cmd->add_option("--label", flags->labels, "A name per --samples, in order (default: the file names)");
  cmd->add_option("--out", flags->out, "Directory for eval.json (created if missing)")->required();
  cmd->add_option("--observables", flags->observables, "Only these observables (names as printed)")->delimiter(',');
  cmd->add_option("--bins", flags->bins, "Bins of the chi2 test (equal truth fractions)")->capture_default_str();
  cmd->add_option("--classifier-events", flags->classifier_events,
                  "Events per side for the classifier at most (half train, half test)")
      ->capture_default_str();
  cmd->add_option("--classifier-steps", flags->classifier_steps, "Training steps of the classifier")->capture_default_str();
  cmd->add_option("--seed", flags->seed, "Seed of the classifier's draws and initialisation")->capture_default_str();
  cmd->add_option("--tolerance", flags->tolerance, "Largest accepted round-off violation when reading, of sqrt(s)")
      ->capture_default_str();
  cmd->add_option("--checkpoint", flags->checkpoint, "Also plot this checkpoint's training and validation loss");
  cmd->add_option("--trajectory", flags->trajectory,
                  "Also plot the sampling path kept by `sample --trajectory-out` (an observable at five states)");
  cmd->add_flag("--no-plots", flags->no_plots, "Skip the figures (DIR/plots/*.png and their gnuplot scripts)");
  cmd->callback([flags] { run_eval(*flags); });
}

}  // namespace phasegen::cli
