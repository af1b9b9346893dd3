#include "target_flags.hpp"

#include <cmath>

#include "phasegen/core/error.hpp"

namespace phasegen::cli {

void TargetFlags::add_settings(CLI::App* cmd) {
  cmd->add_option("--sqrt-s", sqrt_s, "The target's total energy in GeV (default: the checkpoint's; must equal it)");
  cmd->add_option("-n,--particles", particles, "uniform target: N (default: the checkpoint's; must equal it)");
  cmd->add_option("--msq", msq, "qqg target: the cut s_ij/s >= msq (default: the model's cut, if it has one)");
  cmd->add_flag("--symmetrize", symmetrize,
                "qqg target: averaged over the particle orders (for a model trained on shuffled events)");
}

TargetSpec TargetFlags::resolve(const std::string& flag, const Model& model) const {
  PHASEGEN_CHECK(std::isfinite(sqrt_s) && sqrt_s >= 0, "--sqrt-s: expected a positive energy, but got ", sqrt_s);
  PHASEGEN_CHECK(msq >= 0, "--msq: expected a cut 0 < msq < 1/3, but got ", msq);
  TargetSpec spec;
  spec.kind = target_from_name(target);
  spec.sqrt_s = sqrt_s > 0 ? sqrt_s : model.sqrt_s();
  spec.particles = particles > 0 ? particles : model.particles();
  spec.symmetrize = symmetrize;
  PHASEGEN_CHECK(spec.kind != TargetKind::kAps, flag,
                 " aps: the APS sets have no closed-form density relative to flat phase space to weigh events by");
  if (spec.kind == TargetKind::kQqg) {
    PHASEGEN_CHECK(msq > 0 || model.support_cut() > 0,
                   "--msq: the q qbar g target needs its cut on s_ij/s (the model has none to default to)");
    spec.msq = msq > 0 ? msq : model.support_cut();
  }
  spec.validate();
  PHASEGEN_CHECK(spec.n_particles() == model.particles(), flag, " ", target, ": N = ", spec.n_particles(),
                 ", but the checkpoint's model makes N = ", model.particles(), " events");
  PHASEGEN_CHECK(std::abs(spec.sqrt_s - model.sqrt_s()) <= 1e-12 * model.sqrt_s(), "--sqrt-s ", spec.sqrt_s,
                 " GeV: the checkpoint's model makes events at sqrt_s = ", model.sqrt_s(), " GeV");
  const double support = model.support_cut();
  if (support > 0) {
    PHASEGEN_CHECK(spec.kind == TargetKind::kQqg && spec.msq >= support * (1 - 1e-12), flag, " ", target,
                   spec.kind == TargetKind::kQqg ? detail::concat(" --msq ", spec.msq) : std::string(),
                   ": the target has weight below s_ij/s = ", support, ", where the model (prior = dalitz, cut ", support,
                   ") makes no events; its weights would miss that part");
  }
  return spec;
}

std::string integral_unit(const TargetSpec& spec) {
  const std::int64_t power = 2 * spec.n_particles() - 4 + (spec.kind == TargetKind::kMuon ? 3 : 0);
  return power == 0 ? std::string() : power == 1 ? std::string("GeV") : detail::concat("GeV^", power);
}

}  // namespace phasegen::cli
