#include "phasegen/models/spec.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "phasegen/core/error.hpp"

namespace phasegen {

namespace {

// The card keys each kind reads beside the network's; the others are left out of its resolved card.
std::vector<std::string> keys_of(ModelKind kind) {
  switch (kind) {
    case ModelKind::kLangevin:
      return {"schedule", "reference_score", "epsilon", "parametrisation", "weighting", "divergence",
              "variance", "sampler", "nfe", "lift", "lift_scale"};
    case ModelKind::kFlow:
      return {"prior", "prior_law", "solver", "nfe", "lift", "lift_scale", "features", "coupling", "time_law"};
    case ModelKind::kVp: return {"schedule", "sampler", "nfe", "grid", "lift", "lift_scale", "features"};
    case ModelKind::kPFlow: return {"solver", "nfe"};
    case ModelKind::kPDdpm: return {"schedule", "sampler", "nfe", "grid"};
  }
  PHASEGEN_ASSERT(false, "a model kind without keys");
  return {};
}

bool reads(ModelKind kind, const std::string& key) {
  const std::vector<std::string> keys = keys_of(kind);
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

enum class LiftKind { kRandom, kFixed };
constexpr NameTable<LiftKind, 2> kLiftNames{"lift", nullptr, {{{LiftKind::kRandom, "random"}, {LiftKind::kFixed, "fixed"}}}};

bool is_mlp(const NetworkOptions& n) { return n.kind() == NetworkKind::kMlp; }

}  // namespace

ModelSpec::ModelSpec(ModelKind kind) : kind_(kind) {
  if (kind == ModelKind::kPFlow) flow_.solver(OdeSolver::kEuler).nfe(500);
  if (kind == ModelKind::kPDdpm) vp_.schedule(VpScheduleKind::kPaper).sampler(VpSampler::kDdpm).nfe(500).grid(VpGrid::kTime);
}

CardSection ModelSpec::schema() {
  return CardSection("model", {{"kind", CardType::kString},
                               {"network", CardType::kString},
                               {"hidden", CardType::kInt},
                               {"layers", CardType::kInt},
                               {"time_embedding", CardType::kInt},
                               {"model_dim", CardType::kInt},
                               {"blocks", CardType::kInt},
                               {"heads", CardType::kInt},
                               {"pair_bias", CardType::kBool},
                               {"pair_hidden", CardType::kInt},
                               {"cut", CardType::kFloat},
                               {"schedule", CardType::kString},
                               {"reference_score", CardType::kString},
                               {"epsilon", CardType::kFloat},
                               {"parametrisation", CardType::kString},
                               {"weighting", CardType::kString},
                               {"divergence", CardType::kString},
                               {"variance", CardType::kString},
                               {"lift", CardType::kString},
                               {"lift_scale", CardType::kFloat},
                               {"prior", CardType::kString},
                               {"prior_law", CardType::kString},
                               {"solver", CardType::kString},
                               {"sampler", CardType::kString},
                               {"nfe", CardType::kInt},
                               {"grid", CardType::kString},
                               {"features", CardType::kString},
                               {"coupling", CardType::kString},
                               {"time_law", CardType::kString}});
}

ModelSpec ModelSpec::from_card(const std::string& path) {
  std::ifstream in(path);
  PHASEGEN_CHECK(in.is_open(), "cannot read run card '", path, "'");
  std::stringstream text;
  text << in.rdbuf();
  return from_card_text(text.str(), path);
}

ModelSpec ModelSpec::from_card_text(const std::string& text, const std::string& source) {
  CardSection table = schema();
  table.load_string(text, source, /*required=*/false);
  return from_table(table);
}

ModelSpec ModelSpec::from_table(const CardSection& t) {
  ModelSpec spec(t.has("kind") ? kModelKindNames.parse(t.get_string("kind")) : ModelKind::kLangevin);
  const ModelKind kind = spec.kind_;
  auto given = [&](const char* key) { return t.has(key) && reads(kind, key); };

  NetworkOptions& n = spec.network_;
  if (t.has("network")) n.kind(kNetworkKindNames.parse(t.get_string("network")));
  if (t.has("time_embedding")) n.time_embedding(t.get_int("time_embedding"));
  if (is_mlp(n)) {
    if (t.has("hidden")) n.hidden(t.get_int("hidden"));
    if (t.has("layers")) n.layers(t.get_int("layers"));
  } else {
    if (t.has("model_dim")) n.model_dim(t.get_int("model_dim"));
    if (t.has("blocks")) n.blocks(t.get_int("blocks"));
    if (t.has("heads")) n.heads(t.get_int("heads"));
    if (t.has("pair_bias")) n.pair_bias(t.get_bool("pair_bias"));
    if (t.has("pair_hidden")) n.pair_hidden(t.get_int("pair_hidden"));
  }
  if (t.has("cut")) spec.cut_ = t.get_double("cut");

  if (given("lift")) {
    const LiftKind lift = kLiftNames.parse(t.get_string("lift"));
    spec.lift_ = lift == LiftKind::kRandom ? LiftOptions::random()
                                           : LiftOptions::fixed(t.has("lift_scale") ? t.get_double("lift_scale") : 0.15);
  }
  if (given("features")) spec.features_ = kStateFeaturesNames.parse(t.get_string("features"));

  switch (kind) {
    case ModelKind::kLangevin: {
      DiffusionOptions& d = spec.langevin_;
      if (given("schedule")) d.schedule(kLangevinScheduleNames.parse(t.get_string("schedule")));
      if (given("reference_score")) d.reference_score(kReferenceScoreNames.parse(t.get_string("reference_score")));
      if (given("epsilon")) d.epsilon(t.get_double("epsilon"));
      if (given("parametrisation")) d.parametrisation(kScoreParametrisationNames.parse(t.get_string("parametrisation")));
      if (given("weighting")) d.weighting(kLossWeightingNames.parse(t.get_string("weighting")));
      if (given("divergence")) d.divergence(kDivergenceEstimateNames.parse(t.get_string("divergence")));
      if (given("variance")) d.variance(kSamplerVarianceNames.parse(t.get_string("variance")));
      if (given("sampler")) d.sampler(kLangevinSamplerNames.parse(t.get_string("sampler")));
      if (given("nfe")) d.nfe(t.get_int("nfe"));
      break;
    }
    case ModelKind::kFlow:
    case ModelKind::kPFlow: {
      FlowOptions& f = spec.flow_;
      if (given("prior")) f.prior(kFlowPriorChoiceNames.parse(t.get_string("prior")));
      if (given("prior_law")) f.prior_law(kPriorLawNames.parse(t.get_string("prior_law")));
      if (given("solver")) f.solver(kOdeSolverNames.parse(t.get_string("solver")));
      if (given("nfe")) f.nfe(t.get_int("nfe"));
      if (given("coupling")) f.coupling(kFlowCouplingNames.parse(t.get_string("coupling")));
      if (given("time_law")) f.time_law(kFlowTimeLawNames.parse(t.get_string("time_law")));
      break;
    }
    case ModelKind::kVp:
    case ModelKind::kPDdpm: {
      VpOptions& v = spec.vp_;
      if (given("schedule")) v.schedule(kVpScheduleNames.parse(t.get_string("schedule")));
      if (given("sampler")) v.sampler(kVpSamplerNames.parse(t.get_string("sampler")));
      if (given("nfe")) v.nfe(t.get_int("nfe"));
      if (given("grid")) v.grid(kVpGridNames.parse(t.get_string("grid")));
      break;
    }
  }
  spec.validate();
  return spec;
}

std::int64_t ModelSpec::extra_inputs(std::int64_t particles) const {
  return kind_ == ModelKind::kFlow || kind_ == ModelKind::kVp ? phasegen::extra_inputs(features_, particles) : 0;
}

void ModelSpec::validate() const {
  NetworkOptions n = network_;
  n.extra_inputs(extra_inputs(n.particles())).validate();
  switch (kind_) {
    case ModelKind::kLangevin: langevin_.validate(); break;
    case ModelKind::kVp:
    case ModelKind::kPDdpm: vp_.validate(); break;
    case ModelKind::kFlow:
    case ModelKind::kPFlow:
      steps_for_budget(flow_.solver(), flow_.nfe());
      break;
  }
  PHASEGEN_CHECK(std::isfinite(cut_) && cut_ >= 0 && cut_ < 1.0 / 3.0, "cut: expected a smallest s_ij/s in [0, 1/3), but got ", cut_);
  const bool q_state = kind_ == ModelKind::kLangevin ||
                       (kind_ == ModelKind::kFlow && (flow_.prior() == FlowPriorChoice::kRambo || flow_.prior() == FlowPriorChoice::kGaussian));
  PHASEGEN_CHECK(kind_ != ModelKind::kFlow || flow_.prior_law() == FlowPrior::kNormal || flow_.prior() == FlowPriorChoice::kDalitz,
                 "prior_law = ", kPriorLawNames.name(flow_.prior_law()),
                 ": expected prior = dalitz (the law of the Dalitz plane's prior; the other priors are fixed)");
  if (kind_ == ModelKind::kFlow && flow_.prior() == FlowPriorChoice::kDalitz) {
    PHASEGEN_CHECK(is_mlp(network_), "prior = dalitz: expected network = mlp (the state is 2 coordinates)");
    PHASEGEN_CHECK(flow_.coupling() == FlowCoupling::kIndependent, "prior = dalitz: expected coupling = independent");
    PHASEGEN_CHECK(features_ == StateFeatures::kNone, "prior = dalitz: expected features = none (the state is the invariants)");
  }
  if (kind_ == ModelKind::kFlow && flow_.prior() == FlowPriorChoice::kChain) {
    PHASEGEN_CHECK(is_mlp(network_), "prior = chain: expected network = mlp (the state is one vector of 4N - 5 coordinates)");
    PHASEGEN_CHECK(flow_.coupling() != FlowCoupling::kFibre, "prior = chain: expected coupling = independent or ot (the chart has no fibre)");
    PHASEGEN_CHECK(features_ == StateFeatures::kNone, "prior = chain: expected features = none (the state is the invariants)");
    PHASEGEN_CHECK(cut_ == 0, "prior = chain: expected cut = 0 (the chart's events have no cut)");
  }
  PHASEGEN_CHECK(features_ != StateFeatures::kInvariants || is_mlp(network_) || (kind_ != ModelKind::kFlow && kind_ != ModelKind::kVp),
                 "features = invariants: expected network = mlp (the features follow the particle labels; for the "
                 "transformer, pair_bias gives them without breaking permutation equivariance)");
  PHASEGEN_CHECK(!network_.pair_bias() || q_state,
                 "pair_bias: expected a model whose state is q-space (langevin, or flow with prior rambo or gaussian)");
  if (kind_ == ModelKind::kFlow && flow_.coupling() != FlowCoupling::kIndependent) {
    PHASEGEN_CHECK(flow_.prior() != FlowPriorChoice::kGaussian, "coupling = ", kFlowCouplingNames.name(flow_.coupling()),
                   ": expected the rambo or latent prior (the fibre of a Gaussian draw is not p_ref's)");
    PHASEGEN_CHECK(lift_.kind() == LiftOptions::Kind::kRandom, "coupling = ", kFlowCouplingNames.name(flow_.coupling()),
                   ": expected the RAMBO prior (q-space rambo or z-space latent) and the random lift");
  }
}

CardSection ModelSpec::to_table() const {
  CardSection t = schema();
  t.set("kind", std::string(kModelKindNames.name(kind_)));
  t.set("network", std::string(kNetworkKindNames.name(network_.kind())));
  if (is_mlp(network_)) {
    t.set("hidden", network_.hidden());
    t.set("layers", network_.layers());
  }
  t.set("time_embedding", network_.time_embedding());
  if (!is_mlp(network_)) {
    t.set("model_dim", network_.model_dim());
    t.set("blocks", network_.blocks());
    t.set("heads", network_.heads());
    t.set("pair_bias", network_.pair_bias());
    if (network_.pair_bias()) t.set("pair_hidden", network_.pair_hidden());
  }
  t.set("cut", cut_);
  if (reads(kind_, "lift")) {
    const bool random = lift_.kind() == LiftOptions::Kind::kRandom;
    t.set("lift", std::string(random ? "random" : "fixed"));
    if (!random) t.set("lift_scale", lift_.scale());
  }
  if (reads(kind_, "features")) t.set("features", std::string(kStateFeaturesNames.name(features_)));
  switch (kind_) {
    case ModelKind::kLangevin: {
      const DiffusionOptions& d = langevin_;
      t.set("schedule", std::string(kLangevinScheduleNames.name(d.schedule())));
      t.set("reference_score", std::string(kReferenceScoreNames.name(d.reference_score())));
      t.set("epsilon", d.epsilon());
      t.set("parametrisation", std::string(kScoreParametrisationNames.name(d.parametrisation())));
      t.set("weighting", std::string(kLossWeightingNames.name(d.weighting())));
      t.set("divergence", std::string(kDivergenceEstimateNames.name(d.divergence())));
      t.set("variance", std::string(kSamplerVarianceNames.name(d.variance())));
      t.set("sampler", std::string(kLangevinSamplerNames.name(d.sampler())));
      // The em sampler takes every step of its schedule unless told otherwise.
      const bool every_step = d.nfe() == 0 && d.sampler() == LangevinSampler::kEulerMaruyama;
      t.set("nfe", every_step ? NoiseSchedule::of(d.schedule()).steps() : d.nfe());
      break;
    }
    case ModelKind::kFlow:
      t.set("prior", std::string(kFlowPriorChoiceNames.name(flow_.prior())));
      if (flow_.prior() == FlowPriorChoice::kDalitz) {
        t.set("prior_law", std::string(kPriorLawNames.name(flow_.prior_law())));
      }
      t.set("coupling", std::string(kFlowCouplingNames.name(flow_.coupling())));
      t.set("time_law", std::string(kFlowTimeLawNames.name(flow_.time_law())));
      [[fallthrough]];
    case ModelKind::kPFlow:
      t.set("solver", std::string(kOdeSolverNames.name(flow_.solver())));
      t.set("nfe", flow_.nfe());
      break;
    case ModelKind::kVp:
    case ModelKind::kPDdpm:
      t.set("schedule", std::string(kVpScheduleNames.name(vp_.schedule())));
      t.set("sampler", std::string(kVpSamplerNames.name(vp_.sampler())));
      t.set("nfe", vp_.nfe());
      t.set("grid", std::string(kVpGridNames.name(vp_.grid())));
      break;
  }
  return t;
}

std::string ModelSpec::to_card() const { return to_table().to_toml(); }

bool ModelSpec::operator==(const ModelSpec& other) const { return to_table().values() == other.to_table().values(); }

std::string ModelSpec::description() const {
  std::string what;
  switch (kind_) {
    case ModelKind::kLangevin: what = "q-space " + langevin_.description(); break;
    case ModelKind::kFlow:
      what = detail::concat("flow matching, ", kFlowPriorChoiceNames.name(flow_.prior()), " prior, ",
                            kOdeSolverNames.name(flow_.solver()), ", ", flow_.nfe(), " NFE");
      if (flow_.coupling() != FlowCoupling::kIndependent) {
        what += detail::concat(", ", kFlowCouplingNames.name(flow_.coupling()), " coupling");
      }
      break;
    case ModelKind::kVp: what = "VP diffusion in z-space: " + vp_.description(); break;
    case ModelKind::kPFlow:
      what = detail::concat("p-space flow matching (baseline), ", kOdeSolverNames.name(flow_.solver()), ", ",
                            flow_.nfe(), " NFE");
      break;
    case ModelKind::kPDdpm: what = "p-space DDPM (baseline): " + vp_.description(); break;
  }
  if (reads(kind_, "lift")) what += ", " + lift_.description() + " lift";
  if (kind_ == ModelKind::kFlow || kind_ == ModelKind::kVp) what += features_description(features_);
  if (cut_ > 0) what += detail::concat(", cut s_ij/s >= ", cut_);
  return what + "; " + kNetworkKindNames.name(network_.kind()) + " network";
}

ModelSpec with_sampler_settings(const ModelSpec& spec, const SamplerSettings& settings,
                                const std::function<std::string(const std::string&)>& name_of,
                                const std::string& model) {
  CardSection table = spec.to_table();
  const std::string kind = kModelKindNames.name(spec.kind());
  auto replace = [&](const std::string& key, const std::string& value, const char* kinds) {
    if (value.empty()) return;
    const std::string name = name_of(key);
    PHASEGEN_CHECK(table.has(key), name, " applies to ", kinds, " models, but ", model, " holds a ", kind, " model");
    table.set_text(key, value, name);
  };
  replace("variance", settings.variance, "langevin");
  replace("solver", settings.solver, "flow");
  replace("sampler", settings.sampler, "langevin and vp");
  replace("grid", settings.grid, "vp");
  PHASEGEN_CHECK(settings.nfe >= 0, name_of("nfe"), ": expected a positive number of evaluations, but got ",
                 settings.nfe);
  replace("nfe", settings.nfe > 0 ? std::to_string(settings.nfe) : "", "langevin, flow and vp");
  return ModelSpec::from_table(table);
}

}  // namespace phasegen
