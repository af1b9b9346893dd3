// phasegen compare: per-observable distances between two event sets, beside the truth-vs-truth
// floor.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli_support.hpp"
#include "commands.hpp"
#include "judged_sets.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/eval/evaluate.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/eval/stats.hpp"

namespace phasegen::cli {

namespace {

struct CompareFlags {
  std::string truth;
  std::string samples;
  bool floor = false;
  std::vector<std::string> observables;
  int bins = 50;
  double tolerance = 1e-6;
};

std::string row(const Distances& d) {
  char buffer[128];
  std::snprintf(buffer, sizeof buffer, "%10.3g %8.4f %9.2g %9.3f", d.w1, d.ks.statistic, d.ks.p_value,
                d.chi2.ndf > 0 ? d.chi2.chi2 / d.chi2.ndf : 0.0);
  return buffer;
}

void run_compare(const CompareFlags& flags) {
  configure_threads(Workload::kGeneration);
  PHASEGEN_CHECK(flags.bins >= 2, "--bins: expected at least 2 bins, but got ", flags.bins);
  ReadOptions ropts;
  ropts.tolerance = flags.tolerance;
  EventSet truth = read_events(flags.truth, ropts);
  JudgedSet judged = read_judged(flags.samples, truth, flags.truth, flags.tolerance);
  const EventSet& samples = judged.events;
  const bool conserving = judged.conserving;
  const auto n = truth.momenta.size(1);
  PHASEGEN_CHECK(!flags.floor || truth.momenta.size(0) >= 4, "--floor: expected at least 4 truth events, but got ",
                 truth.momenta.size(0));
  const std::vector<NamedObservable> chosen = choose_observables(n, flags.observables);
  const double sqrt_s = truth.sqrt_s;
  const auto half = truth.momenta.size(0) / 2;
  std::cout << "phasegen compare: truth '" << flags.truth << "' (" << truth.momenta.size(0) << " events) vs '"
            << flags.samples << "' (" << samples.momenta.size(0) << " events), N = " << n
            << ", sqrt_s = " << format_number(sqrt_s, 10) << " GeV\n";
  if (!conserving) {
    std::cout << "note: the samples violate energy-momentum conservation (mean sum E = "
              << format_number(samples.momenta.select(2, 0).sum(1).mean().item<double>(), 6)
              << " GeV); observables use the truth's sqrt_s, the violation is in the table at the end\n";
  }
  std::printf("%-14s %10s %8s %9s %9s", "observable", "W1", "KS D", "KS p", "chi2/ndf");
  if (flags.floor) std::printf("  | floor: %8s %8s %9s %9s", "W1", "KS D", "KS p", "chi2/ndf");
  std::printf("\n");
  for (const auto& o : chosen) {
    check_interrupt("interrupted (compare)");
    at::Tensor a = o.compute(truth.momenta, sqrt_s);
    at::Tensor b = o.compute(samples.momenta, sqrt_s);
    std::string name = o.name + (o.unit.empty() ? "" : " [" + o.unit + "]");
    std::printf("%-14s %s", name.c_str(), row(distances(a, b, flags.bins)).c_str());
    if (flags.floor) {
      std::printf("  |        %s", row(distances(a.narrow(0, 0, half), a.narrow(0, half, a.size(0) - half),
                                              flags.bins)).c_str());
    }
    std::printf("\n");
  }
  std::printf("%-14s %10s %10s\n", "conservation", "truth", "samples");
  std::printf("%-14s %10.3g %10.3g\n", "worst |dP|/rs",
              conservation_violation(truth.momenta, sqrt_s).max().item<double>(),
              conservation_violation(samples.momenta, sqrt_s).max().item<double>());
  std::printf("%-14s %10.3g %10.3g\n", "worst |dm|/rs", mass_violation(truth.momenta, sqrt_s).max().item<double>(),
              mass_violation(samples.momenta, sqrt_s).max().item<double>());
  // The paper's Table I: mean violation in units of each event's median particle energy.
  const at::Tensor t1_truth = table_one_violation(truth.momenta, sqrt_s);
  const at::Tensor t1_samples = table_one_violation(samples.momenta, sqrt_s);
  for (int k = 0; k < 4; ++k) {
    std::printf("%-14s %10.3g %10.3g\n", kTableOneLabels[k], t1_truth[k].item<double>(), t1_samples[k].item<double>());
  }
  std::fflush(stdout);
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto flags = std::make_shared<CompareFlags>();
  CLI::App* cmd = app.add_subcommand(
      "compare", "Distances (W1, Kolmogorov-Smirnov, binned chi2) between two event sets, per observable");
  cmd->add_option("truth", flags->truth, "Reference events (the truth)")->required();
  cmd->add_option("samples", flags->samples, "Events to judge")->required();
  cmd->add_flag("--floor", flags->floor,
                "Also compare the two halves of the truth: the truth-vs-truth floor of every figure");
  cmd->add_option("--observables", flags->observables, "Only these observables (names as printed)")->delimiter(',');
  cmd->add_option("--bins", flags->bins, "Bins of the chi2 test (equal truth fractions)")->capture_default_str();
  cmd->add_option("--tolerance", flags->tolerance, "Largest accepted round-off violation when reading, of sqrt(s)")
      ->capture_default_str();
  cmd->callback([flags] { run_compare(*flags); });
}

}  // namespace phasegen::cli
