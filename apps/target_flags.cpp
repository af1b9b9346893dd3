#include "target_flags.hpp"

#include "phasegen/models/weighted.hpp"

namespace phasegen::cli {

void TargetFlags::add_settings(CLI::App* cmd) {
  cmd->add_option("--sqrt-s", sqrt_s, "The target's total energy in GeV (default: the checkpoint's; must equal it)");
  cmd->add_option("-n,--particles", particles, "uniform target: N (default: the checkpoint's; must equal it)");
  cmd->add_option("--msq", msq, "qqg target: the cut s_ij/s >= msq (default: the model's cut, if it has one)");
  cmd->add_flag("--symmetrize", symmetrize,
                "qqg target: averaged over the particle orders (for a model trained on shuffled events)");
}

TargetSpec TargetFlags::resolve(const std::string& flag, const Model& model) const {
  return resolve_target(*this, model, flag, [](const std::string& key) {
    return key == "sqrt_s" ? std::string("--sqrt-s") : "--" + key;
  });
}

}  // namespace phasegen::cli
