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
#include "judged_sets.hpp"
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

// ---- a small JSON writer: objects as ordered key lists ----

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}

std::string json_object(const std::vector<std::pair<std::string, std::string>>& members, int indent) {
  if (members.empty()) return "{}";
  const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
  std::string out = "{\n";
  for (std::size_t k = 0; k < members.size(); ++k) {
    out += pad + json_string(members[k].first) + ": " + members[k].second + (k + 1 < members.size() ? ",\n" : "\n");
  }
  return out + std::string(static_cast<std::size_t>(indent), ' ') + "}";
}

std::string json_distances(const Distances& d, int indent) {
  return json_object({{"w1", json_number(d.w1)},
                      {"ks", json_number(d.ks.statistic)},
                      {"ks_p", json_number(d.ks.p_value)},
                      {"chi2_ndf", json_number(d.chi2.ndf > 0 ? d.chi2.chi2 / d.chi2.ndf : 0.0)},
                      {"chi2_p", json_number(d.chi2.p_value)}},
                     indent);
}

std::string json_classifier(const ClassifierResult& r, int indent) {
  return json_object({{"auc", json_number(r.auc)},
                      {"auc_error", json_number(r.auc_error)},
                      {"events_per_side", std::to_string(r.events_per_side)}},
                     indent);
}

struct Conservation {
  double worst_momentum, worst_mass;
  at::Tensor table_one;  // [4]
};

Conservation conservation_of(const at::Tensor& p, double sqrt_s) {
  return {conservation_violation(p, sqrt_s).max().item<double>(), mass_violation(p, sqrt_s).max().item<double>(),
          table_one_violation(p, sqrt_s)};
}

std::string json_conservation(const Conservation& c, int indent) {
  return json_object({{"worst_momentum_over_sqrt_s", json_number(c.worst_momentum)},
                      {"worst_mass_over_sqrt_s", json_number(c.worst_mass)},
                      {"table_one_E", json_number(c.table_one[0].item<double>())},
                      {"table_one_px", json_number(c.table_one[1].item<double>())},
                      {"table_one_py", json_number(c.table_one[2].item<double>())},
                      {"table_one_pz", json_number(c.table_one[3].item<double>())}},
                     indent);
}

std::string row(const Distances& d) {
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%9.3g %7.4f %8.3f", d.w1, d.ks.statistic,
                d.chi2.ndf > 0 ? d.chi2.chi2 / d.chi2.ndf : 0.0);
  return buffer;
}

std::string label_of(const std::string& path) { return std::filesystem::path(path).stem().string(); }

// Every figure of the evaluation into DIR/plots; returns the image paths relative to DIR.
std::vector<std::string> draw_plots(const EvalFlags& flags, const EventSet& truth, const std::vector<JudgedSet>& sets,
                                    const std::vector<std::string>& labels, const std::optional<CheckpointRecord>& checkpoint,
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
  for (const auto& set : sets) flat_events = std::max(flat_events, set.events.momenta.size(0));
  at::Generator gen = stream_generator(static_cast<std::uint64_t>(flags.seed), Stream::kEvalFlat, 0);
  const at::Tensor flat = sample_uniform_phase_space(std::min<std::int64_t>(flat_events, 100000), particles, sqrt_s, gen);
  const std::vector<std::string> names = flags.observables.empty() ? default_plotted(particles) : flags.observables;
  for (const auto& observable : choose_observables(particles, names)) {
    const std::string unit = observable.unit.empty() ? "" : " [" + observable.unit + "]";
    std::vector<Series> series = {{"truth", observable.compute(truth.momenta, sqrt_s)}};
    for (std::size_t k = 0; k < sets.size(); ++k) series.push_back({labels[k], observable.compute(sets[k].events.momenta, sqrt_s)});
    series.push_back({"flat phase space", observable.compute(flat, sqrt_s)});
    const bool unit_interval = observable.name == "u1" || observable.name == "u2";
    keep(plotter.histogram("hist_" + file_name(observable.name), observable.name + ": truth, models, flat phase space",
                           observable.name + unit, series, 50, 0.0, unit_interval ? 1.0 : 0.0));
  }
  if (particles == 3) {
    std::vector<Series> panels = {{"truth", dalitz_energies(truth.momenta)}};
    for (std::size_t k = 0; k < sets.size(); ++k) panels.push_back({labels[k], dalitz_energies(sets[k].events.momenta)});
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
    const NamedObservable observable = choose_observables(particles, {particles == 3 ? "E_1" : "log10(tau/s)"}).front();
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
  const std::vector<NamedObservable> observables = choose_observables(particles, flags.observables);
  std::vector<JudgedSet> sets;
  std::vector<std::string> labels;
  for (std::size_t k = 0; k < flags.samples.size(); ++k) {
    sets.push_back(read_judged(flags.samples[k], truth, flags.truth, flags.tolerance));
    PHASEGEN_CHECK(sets.back().events.momenta.size(0) >= 40, "'", flags.samples[k],
                   "': expected at least 40 events, but got ", sets.back().events.momenta.size(0));
    labels.push_back(flags.labels.empty() ? label_of(flags.samples[k]) : flags.labels[k]);
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
  // The truth's values of every observable, computed once.
  std::vector<at::Tensor> truth_values;
  for (const auto& o : observables) truth_values.push_back(o.compute(truth.momenta, sqrt_s));

  // Classifier floor: the first half of the truth against the second.
  ClassifierOptions copts;
  copts.max_events = flags.classifier_events;
  copts.steps = flags.classifier_steps;
  copts.seed = static_cast<std::uint64_t>(flags.seed);
  const std::int64_t half = n_truth / 2;
  const at::Tensor truth_a = truth.momenta.narrow(0, 0, half), truth_b = truth.momenta.narrow(0, half, half);
  std::fflush(stdout);
  std::fprintf(stderr, "eval: classifier, truth vs truth\n");
  const ClassifierResult classifier_floor = classifier_test(truth_a, truth_b, sqrt_s, copts);
  const Conservation truth_conservation = conservation_of(truth.momenta, sqrt_s);

  std::vector<std::pair<std::string, std::string>> json_sets;
  std::string json_samples = "[";
  for (std::size_t k = 0; k < sets.size(); ++k) {
    check_interrupt("interrupted (eval); no output was written");
    const at::Tensor& p = sets[k].events.momenta;
    const std::int64_t m = std::min(p.size(0), half);
    say("\nsamples '%s' (%s): %lld events%s\n", flags.samples[k].c_str(), labels[k].c_str(),
                static_cast<long long>(p.size(0)),
                sets[k].conserving ? "" : "; they violate energy-momentum conservation (read at the truth's sqrt_s)");
    say("%-14s %9s %7s %8s | floor: %9s %7s %8s\n", "observable", "W1", "KS D", "chi2/ndf", "W1", "KS D",
                "chi2/ndf");
    std::vector<std::pair<std::string, std::string>> json_observables;
    double ks_u1 = -1, ks_u2 = -1;
    for (std::size_t j = 0; j < observables.size(); ++j) {
      const at::Tensor& a = truth_values[j];
      const Distances d = distances(a, observables[j].compute(p, sqrt_s), flags.bins);
      // The floor at this set's size: m truth events against the other n - m.
      const Distances f = distances(a.narrow(0, 0, n_truth - m), a.narrow(0, n_truth - m, m), flags.bins);
      const std::string name = observables[j].name + (observables[j].unit.empty() ? "" : " [" + observables[j].unit + "]");
      say("%-14s %s |        %s\n", name.c_str(), row(d).c_str(), row(f).c_str());
      json_observables.emplace_back(observables[j].name,
                                    json_object({{"unit", json_string(observables[j].unit)},
                                                 {"model", json_distances(d, 10)},
                                                 {"floor", json_distances(f, 10)}},
                                                8));
      if (observables[j].name == "u1") ks_u1 = d.ks.statistic;
      if (observables[j].name == "u2") ks_u2 = d.ks.statistic;
    }
    std::fflush(stdout);
    std::fprintf(stderr, "eval: classifier, truth vs %s\n", labels[k].c_str());
    const ClassifierResult classifier = classifier_test(truth_a, p, sqrt_s, copts);
    const Conservation c = conservation_of(p, sqrt_s);
    say("%-14s %9.4f +- %.4f          | floor: %9.4f +- %.4f (%lld events per side)\n", "classifier AUC",
                classifier.auc, classifier.auc_error, classifier_floor.auc, classifier_floor.auc_error,
                static_cast<long long>(classifier.events_per_side));
    say("%-14s %9.3g | truth: %9.3g\n", "worst |dP|/rs", c.worst_momentum, truth_conservation.worst_momentum);
    say("%-14s %9.3g | truth: %9.3g\n", "worst |dm|/rs", c.worst_mass, truth_conservation.worst_mass);
    for (int i = 0; i < 4; ++i) {
      say("%-14s %9.3g | truth: %9.3g\n", kTableOneLabels[i], c.table_one[i].item<double>(),
                  truth_conservation.table_one[i].item<double>());
    }
    say("headline (%s): ", labels[k].c_str());
    if (ks_u1 >= 0 && ks_u2 >= 0) say("Rosenblatt KS %.4f (u1 %.4f, u2 %.4f), ", std::max(ks_u1, ks_u2), ks_u1, ks_u2);
    say("classifier AUC %.4f +- %.4f, worst conservation error %.3g\n", classifier.auc, classifier.auc_error,
                std::max(c.worst_momentum, c.worst_mass));
    json_samples += std::string(k ? "," : "") + "\n    " +
                    json_object({{"label", json_string(labels[k])},
                                 {"path", json_string(flags.samples[k])},
                                 {"events", std::to_string(p.size(0))},
                                 {"conserving", sets[k].conserving ? "true" : "false"},
                                 {"observables", json_object(json_observables, 6)},
                                 {"classifier", json_classifier(classifier, 6)},
                                 {"conservation", json_conservation(c, 6)}},
                                4);
  }
  json_samples += "\n  ]";

  std::vector<std::string> plots;
  if (!flags.no_plots) {
    std::fflush(stdout);
    std::fprintf(stderr, "eval: plots\n");
    plots = draw_plots(flags, truth, sets, labels, checkpoint, trajectory);
  }
  std::string json_plots = "[";
  for (std::size_t k = 0; k < plots.size(); ++k) json_plots += (k ? ", " : "") + json_string(plots[k]);
  json_plots += "]";
  const std::string json = json_object(
      {{"phasegen_eval", "1"},
       {"truth", json_object({{"path", json_string(flags.truth)},
                              {"events", std::to_string(n_truth)},
                              {"particles", std::to_string(particles)},
                              {"sqrt_s", json_number(sqrt_s)},
                              {"conservation", json_conservation(truth_conservation, 4)}},
                             2)},
       {"settings", json_object({{"bins", std::to_string(flags.bins)},
                                 {"classifier_events", std::to_string(flags.classifier_events)},
                                 {"classifier_steps", std::to_string(flags.classifier_steps)},
                                 {"seed", std::to_string(flags.seed)},
                                 {"floor", json_string("observables: the last m truth events (m = the set's size, at "
                                                       "most half) against the others; classifier: the first half "
                                                       "of the truth against the second")}},
                                2)},
       {"classifier_floor", json_classifier(classifier_floor, 2)},
       {"samples", json_samples},
       {"plots", json_plots}},
      0);
  write_text_file(json_path, json + "\n");
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
