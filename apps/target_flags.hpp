// The flags that name a target to weigh a model's events by (integrate, sample --weights), and the
// checks that it fits the model.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "phasegen/models/model.hpp"
#include "phasegen/physics/targets.hpp"

namespace phasegen::cli {

struct TargetFlags {
  std::string target;
  double sqrt_s = 0.0;         // 0: the checkpoint's
  std::int64_t particles = 0;  // 0: the checkpoint's
  double msq = 0.0;            // 0: the model's cut
  bool symmetrize = false;

  /// Registers --sqrt-s, -n/--particles, --msq and --symmetrize on `cmd` (the target's own flag is
  /// the command's: --target or --weights).
  void add_settings(CLI::App* cmd);
  /// The target named by `flag` (its name in messages), checked against `model`: a known density
  /// (not aps), the model's N and sqrt(s), and no weight where the model makes no events.
  TargetSpec resolve(const std::string& flag, const Model& model) const;
};

/// The unit of the integral of the target's density over phase space: GeV^(2N - 4) times F's.
std::string integral_unit(const TargetSpec& spec);

}  // namespace phasegen::cli
