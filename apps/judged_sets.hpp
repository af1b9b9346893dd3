// Reading the sets that compare and eval judge against a truth, and choosing observables.
#pragma once

#include <string>
#include <vector>

#include "phasegen/io/event_io.hpp"
#include "phasegen/physics/observables.hpp"

namespace phasegen::cli {

/// Events to judge: read strictly, or, when they violate energy-momentum conservation (a p-space
/// baseline), leniently at the truth's sqrt_s, so that the violation can be measured. Other defects
/// (NaN, massive particles, an empty file) still throw. The N and sqrt_s must be the truth's.
struct JudgedSet {
  EventSet events;
  bool conserving = true;
};
JudgedSet read_judged(const std::string& path, const EventSet& truth, const std::string& truth_path,
                      double tolerance);

/// Row labels of the paper's Table I metric, in the order of table_one_violation.
inline constexpr const char* kTableOneLabels[4] = {"<|dE|>/E_med", "<|dpx|>/E_med", "<|dpy|>/E_med",
                                                   "<|dpz|>/E_med"};

/// The standard observables for N particles, or only the named ones (an unknown name throws,
/// listing the known ones).
std::vector<NamedObservable> choose_observables(std::int64_t particles, const std::vector<std::string>& names);

}  // namespace phasegen::cli
