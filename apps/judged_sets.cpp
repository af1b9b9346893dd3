#include "judged_sets.hpp"

#include <algorithm>
#include <cmath>

#include "phasegen/core/error.hpp"

namespace phasegen::cli {

JudgedSet read_judged(const std::string& path, const EventSet& truth, const std::string& truth_path,
                      double tolerance) {
  ReadOptions options;
  options.tolerance = tolerance;
  JudgedSet set;
  try {
    set.events = read_events(path, options);
  } catch (const Error&) {
    options.require_conservation = false;
    options.sqrt_s = truth.sqrt_s;
    set.events = read_events(path, options);
    set.conserving = false;
  }
  const auto n = truth.momenta.size(1);
  PHASEGEN_CHECK(set.events.momenta.size(1) == n, "'", path, "' has events of N = ", set.events.momenta.size(1),
                 " particles, but the truth '", truth_path, "' has N = ", n);
  PHASEGEN_CHECK(std::abs(set.events.sqrt_s / truth.sqrt_s - 1.0) < 1e-6, "'", path, "' has sqrt_s = ",
                 set.events.sqrt_s, " GeV, but the truth '", truth_path, "' has sqrt_s = ", truth.sqrt_s, " GeV");
  return set;
}

std::vector<NamedObservable> choose_observables(std::int64_t particles, const std::vector<std::string>& names) {
  std::vector<NamedObservable> all = standard_observables(particles);
  if (names.empty()) return all;
  std::vector<NamedObservable> chosen;
  for (const auto& name : names) {
    auto it = std::find_if(all.begin(), all.end(), [&](const NamedObservable& o) { return o.name == name; });
    if (it == all.end()) {
      std::string known;
      for (const auto& o : all) known += (known.empty() ? "" : ", ") + o.name;
      throw Error(detail::concat("--observables: unknown observable '", name, "' for N = ", particles, " (known: ",
                                 known, ")"));
    }
    chosen.push_back(*it);
  }
  return chosen;
}

}  // namespace phasegen::cli
