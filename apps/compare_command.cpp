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
  const JudgedEvents samples = read_judged(flags.samples, truth, flags.truth, flags.tolerance);
  const auto n = truth.momenta.size(1);
  PHASEGEN_CHECK(!flags.floor || truth.momenta.size(0) >= 4, "--floor: expected at least 4 truth events, but got ",
                 truth.momenta.size(0));
  const std::vector<NamedObservable> chosen = named_observables(n, flags.observables);
  const double sqrt_s = truth.sqrt_s;
  std::cout << "phasegen compare: truth '" << flags.truth << "' (" << truth.momenta.size(0) << " events) vs '"
            << flags.samples << "' (" << samples.events.size(0) << " events), N = " << n
            << ", sqrt_s = " << format_number(sqrt_s, 10) << " GeV\n";
  // Weighted samples count by their weights; their floor is that of their effective size.
  const bool weighted = samples.weights.defined();
  const std::int64_t floor_size =
      weighted ? std::max<std::int64_t>(2, std::llround(effective_size(samples.weights))) : samples.events.size(0);
  if (weighted) {
    std::cout << "note: the samples are weighted: figures with their weights, the floor at their effective size "
              << floor_size << "\n";
  }
  if (!samples.conserving) {
    std::cout << "note: the samples violate energy-momentum conservation (mean sum E = "
              << format_number(samples.events.select(2, 0).sum(1).mean().item<double>(), 6)
              << " GeV); observables use the truth's sqrt_s, the violation is in the table at the end\n";
  }
  std::printf("%-14s %10s %8s %9s %9s", "observable", "W1", "KS D", "KS p", "chi2/ndf");
  if (flags.floor) std::printf("  | floor: %8s %8s %9s %9s", "W1", "KS D", "KS p", "chi2/ndf");
  std::printf("\n");
  for (const auto& o : chosen) {
    check_interrupt("interrupted (compare)");
    const at::Tensor a = o.compute(truth.momenta, sqrt_s);
    const std::string name = o.name + (o.unit.empty() ? "" : " [" + o.unit + "]");
    std::printf("%-14s %s", name.c_str(),
                row(distances(a, o.compute(samples.events, sqrt_s), flags.bins, samples.weights)).c_str());
    // The floor of eval: at the samples' size, m truth events against the other n - m.
    if (flags.floor) std::printf("  |        %s", row(truth_floor(a, floor_size, flags.bins)).c_str());
    std::printf("\n");
  }
  const Conservation t = conservation_of(truth.momenta, sqrt_s), c = conservation_of(samples.events, sqrt_s);
  std::printf("%-14s %10s %10s\n", "conservation", "truth", "samples");
  std::printf("%-14s %10.3g %10.3g\n", "worst |dP|/rs", t.worst_momentum, c.worst_momentum);
  std::printf("%-14s %10.3g %10.3g\n", "worst |dm|/rs", t.worst_mass, c.worst_mass);
  // The paper's Table I: mean violation in units of each event's median particle energy.
  for (std::size_t k = 0; k < 4; ++k) {
    std::printf("%-14s %10.3g %10.3g\n", kTableOneLabels[k], t.table_one[k], c.table_one[k]);
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
                "Also the truth-vs-truth floor of every figure: at the samples' size m, m truth events against the other n - m (as eval)");
  cmd->add_option("--observables", flags->observables, "Only these observables (names as printed)")->delimiter(',');
  cmd->add_option("--bins", flags->bins, "Bins of the chi2 test (equal truth fractions)")->capture_default_str();
  cmd->add_option("--tolerance", flags->tolerance, "Largest accepted round-off violation when reading, of sqrt(s)")
      ->capture_default_str();
  cmd->callback([flags] { run_compare(*flags); });
}

}  // namespace phasegen::cli
