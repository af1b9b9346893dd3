// The flags that name a target to weigh a model's events by (integrate, sample --weights), and the
// checks that it fits the model.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "phasegen/models/model.hpp"
#include "phasegen/models/weighted.hpp"
#include "phasegen/physics/targets.hpp"

namespace phasegen::cli {

/// The request's fields are the flags' values (0: the checkpoint's, msq: the model's cut).
struct TargetFlags : TargetRequest {

  /// Registers --sqrt-s, -n/--particles, --msq and --symmetrize on `cmd` (the target's own flag is
  /// the command's: --target or --weights).
  void add_settings(CLI::App* cmd);
  /// The target named by `flag` (its name in messages), checked against `model`: a known density
  /// (not aps), the model's N and sqrt(s), and no weight where the model makes no events.
  TargetSpec resolve(const std::string& flag, const Model& model) const;
};

}  // namespace phasegen::cli
