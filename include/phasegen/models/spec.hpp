// What a model is, as one typed and checked value: the family, the network, and every setting of
// the family, read from a run card's [model] table and written back to it. The card is the only
// configuration language: checkpoints store the resolved card and nothing else describes a model.
//
//   phasegen::ModelSpec spec = phasegen::ModelSpec::from_card("cards/muon-langevin-cpu.toml");
//   spec.langevin().divergence(phasegen::DivergenceEstimate::kHutchinson);   // typed, not text
//   std::cout << spec.description() << "\n" << spec.to_card();               // the resolved [model] table
//
// Kinds: langevin (the paper's q-space diffusion), flow (flow matching in q- or z-space), vp (the
// variance-preserving diffusion in z-space), and the paper's p-space baselines pflow and pddpm.
// Each kind reads only its own keys; keys of other kinds in a card are left out of the resolved card.
#pragma once

#include <torch/arg.h>

#include <cstdint>
#include <functional>
#include <string>

#include "phasegen/core/names.hpp"
#include "phasegen/io/card.hpp"
#include "phasegen/models/diffusion.hpp"
#include "phasegen/models/flow.hpp"
#include "phasegen/models/nn.hpp"
#include "phasegen/models/ode.hpp"
#include "phasegen/models/space.hpp"
#include "phasegen/models/vp.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen {

enum class ModelKind { kLangevin, kFlow, kVp, kPFlow, kPDdpm };
inline constexpr NameTable<ModelKind, 5> kModelKindNames{"kind",
                                                         "model",
                                                         {{{ModelKind::kLangevin, "langevin"},
                                                           {ModelKind::kFlow, "flow"},
                                                           {ModelKind::kVp, "vp"},
                                                           {ModelKind::kPFlow, "pflow"},
                                                           {ModelKind::kPDdpm, "pddpm"}}}};

/// The prior of a flow model, as a card names it, and with it the state: rambo (p_ref in q-space,
/// uniform phase space at t = 1), gaussian (a Gaussian fitted to the lifted training data, the
/// paper's), latent (N(0, I) in the Gaussianised z-space, which is p_ref again), dalitz (N = 3:
/// N(0, I) on the standardised log-ratios of the invariants above the cut, see dalitz.hpp; an MLP),
/// chain (N >= 3 identical particles: N(0, I) on the standardised antenna-chain chart, see chain.hpp; an MLP).
enum class FlowPriorChoice { kRambo, kGaussian, kLatent, kDalitz, kChain };
inline constexpr NameTable<FlowPriorChoice, 5> kFlowPriorChoiceNames{
    "prior",
    "prior",
    {{{FlowPriorChoice::kRambo, "rambo"},
      {FlowPriorChoice::kGaussian, "gaussian"},
      {FlowPriorChoice::kLatent, "latent"},
      {FlowPriorChoice::kDalitz, "dalitz"},
      {FlowPriorChoice::kChain, "chain"}}},
    "rambo, gaussian (fitted to the lifted data), latent (N(0, I) in z-space), dalitz (N = 3, the Dalitz plane) "
    "or chain (identical particles, the antenna-chain chart)"};

/// The law of the Dalitz-plane flow's prior (prior = dalitz) on its standardised state: normal
/// (N(0, I)) or logistic (independent unit-variance logistic coordinates, exponential tails: with
/// them the sampler's density falls off no faster than the Dalitz plane's target does, so event
/// weights stay bounded in the tails).
inline constexpr NameTable<FlowPrior, 2> kPriorLawNames{
    "prior_law", nullptr, {{{FlowPrior::kNormal, "normal"}, {FlowPrior::kLogistic, "logistic"}}}};

/// Flow matching: kind = flow uses every setting, pflow (N(0, I) on P/x) the solver and the NFE.
struct FlowOptions {
  TORCH_ARG(FlowPrior, prior_law) = FlowPrior::kNormal;
  TORCH_ARG(FlowPriorChoice, prior) = FlowPriorChoice::kRambo;
  TORCH_ARG(OdeSolver, solver) = OdeSolver::kHeun;
  TORCH_ARG(std::int64_t, nfe) = 20;
  TORCH_ARG(FlowCoupling, coupling) = FlowCoupling::kIndependent;
  TORCH_ARG(FlowTimeLaw, time_law) = FlowTimeLaw::kUniform;
};

class ModelSpec {
 public:
  /// The kind's defaults (pflow: Euler, 500 NFE; pddpm: the paper's schedule, DDPM, 500 NFE on a
  /// uniform time grid; the others as their options say).
  explicit ModelSpec(ModelKind kind = ModelKind::kLangevin);

  /// The [model] table of a run card (the defaults of `kind = langevin` where the card has none).
  static ModelSpec from_card(const std::string& path);
  static ModelSpec from_card_text(const std::string& text, const std::string& source);
  /// From a [model] table already read (and overridden by flags); names the key of any bad value.
  static ModelSpec from_table(const CardSection& table);
  /// The [model] table's keys and their types.
  static CardSection schema();

  /// The resolved [model] table: the keys of this kind, every default filled in (a Langevin em
  /// sampler's nfe = 0 written as the schedule's T).
  CardSection to_table() const;
  /// to_table() as TOML text, every number exact (doubles with 17 significant digits).
  std::string to_card() const;
  /// Throws phasegen::Error naming the first setting that is out of range or inconsistent.
  void validate() const;
  std::string description() const;
  /// Settings equal, value by value, in their resolved form.
  bool operator==(const ModelSpec& other) const;
  bool operator!=(const ModelSpec& other) const { return !(*this == other); }

  ModelKind kind() const { return kind_; }
  /// Whether every state of the model's sampler decodes to an exact event (all but pflow, pddpm).
  bool conserving() const { return kind_ != ModelKind::kPFlow && kind_ != ModelKind::kPDdpm; }
  /// Extra network inputs per particle the family's features need for N particles (0, 4 or N);
  /// network().extra_inputs is set from it when a model is built.
  std::int64_t extra_inputs(std::int64_t particles) const;

  TORCH_ARG(NetworkOptions, network);
  /// The lift of training events to q-space (langevin, flow, vp).
  TORCH_ARG(LiftOptions, lift) = LiftOptions::random();
  TORCH_ARG(DiffusionOptions, langevin);
  TORCH_ARG(FlowOptions, flow);
  TORCH_ARG(VpOptions, vp);
  /// What a flow or vp network sees beside its state.
  TORCH_ARG(StateFeatures, features) = StateFeatures::kNone;
  /// A generator-level cut: sampled events with any s_ij/s below it are dropped and the run
  /// refilled to its count (the dropped fraction is reported). 0: none. For a model of data made
  /// with a cut (qqg's msq), the same cut.
  TORCH_ARG(double, cut) = 0.0;

 private:
  ModelKind kind_;
};

/// Sampler settings that replace a trained model's own at sampling time; an empty text (nfe 0)
/// keeps the model's. Each applies to the kinds that have it.
struct SamplerSettings {
  std::string solver;    ///< flow: euler, heun or rk4
  std::string sampler;   ///< langevin and vp
  std::string grid;      ///< vp
  std::string variance;  ///< langevin
  std::int64_t nfe = 0;  ///< langevin, flow and vp: network evaluations per event
};

/// `spec` with `settings` in place of its own, checked. `name_of` turns a setting's key ("nfe") into
/// the name the user gave it ("--nfe", "nfe=") and `model` names the model (its checkpoint) in messages: a setting the
/// kind does not have, or a bad value, throws phasegen::Error naming both.
ModelSpec with_sampler_settings(const ModelSpec& spec, const SamplerSettings& settings,
                                const std::function<std::string(const std::string&)>& name_of,
                                const std::string& model);

}  // namespace phasegen
