#include "phasegen/models/spec.hpp"

#include <functional>
#include <string>
#include <vector>

#include "phasegen/io/card.hpp"
#include "phasegen/models/families.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

// A spec of every kind, with defaults and with changed typed settings.
std::vector<ModelSpec> all_specs() {
  std::vector<ModelSpec> specs;
  for (ModelKind kind : {ModelKind::kLangevin, ModelKind::kFlow, ModelKind::kVp, ModelKind::kPFlow, ModelKind::kPDdpm}) {
    specs.emplace_back(kind);
  }
  ModelSpec langevin(ModelKind::kLangevin);
  langevin.langevin()
      .schedule(LangevinSchedule::kExtended)
      .reference_score(ReferenceScore::kExact)
      .epsilon(0.1 + 0.2)  // not a short decimal: the table must keep every bit
      .parametrisation(ScoreParametrisation::kScoreOverSigma)
      .weighting(LossWeighting::kSigma2)
      .divergence(DivergenceEstimate::kHutchinson)
      .variance(SamplerVariance::kPaper)
      .sampler(LangevinSampler::kHeun)
      .nfe(19);
  langevin.lift(LiftOptions::fixed(0.15));
  langevin.network().kind(NetworkKind::kTransformer).model_dim(32).blocks(2).heads(4).time_embedding(16);
  specs.push_back(langevin);
  ModelSpec em(ModelKind::kLangevin);
  em.langevin().nfe(50);
  em.network().hidden(16).layers(2).time_embedding(8);
  specs.push_back(em);
  ModelSpec gaussian(ModelKind::kFlow);
  gaussian.flow().prior(FlowPriorChoice::kGaussian).solver(OdeSolver::kRk4).nfe(12).time_law(FlowTimeLaw::kData);
  gaussian.lift(LiftOptions::fixed(0.0846));
  specs.push_back(gaussian);
  ModelSpec latent(ModelKind::kFlow);
  latent.flow().prior(FlowPriorChoice::kLatent).coupling(FlowCoupling::kFibre).time_law(FlowTimeLaw::kNoise);
  latent.features(StateFeatures::kEvent);
  specs.push_back(latent);
  ModelSpec ot(ModelKind::kFlow);
  ot.flow().coupling(FlowCoupling::kOt).solver(OdeSolver::kEuler).nfe(7);
  specs.push_back(ot);
  ModelSpec vp(ModelKind::kVp);
  vp.vp().schedule(VpScheduleKind::kPaper).sampler(VpSampler::kDdim).nfe(10).grid(VpGrid::kTime);
  vp.features(StateFeatures::kEvent);
  vp.lift(LiftOptions::fixed(0.2));
  specs.push_back(vp);
  ModelSpec pflow(ModelKind::kPFlow);
  pflow.flow().solver(OdeSolver::kHeun).nfe(30);
  specs.push_back(pflow);
  ModelSpec pddpm(ModelKind::kPDdpm);
  pddpm.vp().sampler(VpSampler::kDpmSolver2M).nfe(20).grid(VpGrid::kLogSnr);
  specs.push_back(pddpm);
  ModelSpec dalitz(ModelKind::kFlow);
  dalitz.flow().prior(FlowPriorChoice::kDalitz).time_law(FlowTimeLaw::kData);
  dalitz.cut(1e-4);
  specs.push_back(dalitz);
  ModelSpec pairs(ModelKind::kFlow);
  pairs.network().kind(NetworkKind::kTransformer).model_dim(32).blocks(2).heads(4).pair_bias(true).pair_hidden(24);
  pairs.cut(1e-3);
  specs.push_back(pairs);
  ModelSpec chain(ModelKind::kFlow);
  chain.flow().prior(FlowPriorChoice::kChain).coupling(FlowCoupling::kOt);
  specs.push_back(chain);
  return specs;
}

TEST(ModelSpec, EveryKindRoundTripsThroughItsTable) {
  const std::vector<ModelSpec> specs = all_specs();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const ModelSpec& spec = specs[i];
    SCOPED_TRACE(spec.description());
    EXPECT_NO_THROW(spec.validate());
    const ModelSpec back = ModelSpec::from_table(spec.to_table());
    EXPECT_TRUE(back == spec);
    EXPECT_FALSE(back != spec);
    EXPECT_EQ(back.kind(), spec.kind());
    EXPECT_EQ(back.conserving(), spec.conserving());
    EXPECT_EQ(back.extra_inputs(3), spec.extra_inputs(3));
    // Descriptions are of the resolved settings once read back (a Langevin em nfe = 0 reads back as T).
    EXPECT_EQ(ModelSpec::from_table(back.to_table()).description(), back.description());
    EXPECT_EQ(back.to_table().values(), spec.to_table().values());
    // The same through the TOML text a checkpoint stores.
    EXPECT_TRUE(ModelSpec::from_card_text(spec.to_card(), "card") == spec) << spec.to_card();
    // A spec with changed settings is not its kind's defaults; specs of other kinds differ.
    if (i >= 5) {
      EXPECT_TRUE(spec != ModelSpec(spec.kind()));
    }
    for (ModelKind other : {ModelKind::kLangevin, ModelKind::kFlow, ModelKind::kVp, ModelKind::kPFlow, ModelKind::kPDdpm}) {
      if (other != spec.kind()) {
        EXPECT_TRUE(spec != ModelSpec(other));
      }
    }
  }
  // Typed values survive, doubles to the bit.
  const ModelSpec langevin = ModelSpec::from_card_text(specs[5].to_card(), "card");
  EXPECT_EQ(langevin.langevin().epsilon(), 0.1 + 0.2);
  EXPECT_EQ(langevin.langevin().sampler(), LangevinSampler::kHeun);
  EXPECT_EQ(langevin.langevin().nfe(), 19);
  EXPECT_EQ(langevin.lift().kind(), LiftOptions::Kind::kFixed);
  EXPECT_EQ(langevin.lift().scale(), 0.15);
  EXPECT_EQ(langevin.network().kind(), NetworkKind::kTransformer);
  EXPECT_EQ(langevin.network().model_dim(), 32);
  EXPECT_EQ(ModelSpec::from_table(specs[8].to_table()).extra_inputs(3), 4);  // flow, latent, features = event
  const ModelSpec dalitz = ModelSpec::from_card_text(specs[13].to_card(), "card");
  EXPECT_EQ(dalitz.flow().prior(), FlowPriorChoice::kDalitz);
  EXPECT_EQ(dalitz.cut(), 1e-4);
  EXPECT_EQ(dalitz.flow().prior_law(), FlowPrior::kNormal);
  ModelSpec logistic = specs[13];
  logistic.flow().prior_law(FlowPrior::kLogistic);
  EXPECT_EQ(ModelSpec::from_card_text(logistic.to_card(), "card").flow().prior_law(), FlowPrior::kLogistic);
  EXPECT_TRUE(ModelSpec::from_card_text(logistic.to_card(), "card") == logistic);
  EXPECT_ERROR_CONTAINS(ModelSpec::from_card_text("[model]\nkind = \"flow\"\nprior = \"dalitz\"\nprior_law = \"cauchy\"\n", "card"),
                        "prior_law: expected normal or logistic, but got 'cauchy'");
  ModelSpec rambo_logistic(ModelKind::kFlow);
  rambo_logistic.flow().prior_law(FlowPrior::kLogistic);
  EXPECT_ERROR_CONTAINS(rambo_logistic.validate(), "prior_law = logistic: expected prior = dalitz");
  const ModelSpec pairs = ModelSpec::from_card_text(specs[14].to_card(), "card");
  EXPECT_TRUE(pairs.network().pair_bias());
  EXPECT_EQ(pairs.network().pair_hidden(), 24);
  const ModelSpec chain = ModelSpec::from_card_text(specs[15].to_card(), "card");
  EXPECT_EQ(chain.flow().prior(), FlowPriorChoice::kChain);
  EXPECT_EQ(chain.flow().coupling(), FlowCoupling::kOt);
  for (const auto& [change, message] : std::vector<std::pair<std::function<void(ModelSpec&)>, std::string>>{
           {[](ModelSpec& m) { m.network().kind(NetworkKind::kTransformer); }, "prior = chain: expected network = mlp"},
           {[](ModelSpec& m) { m.flow().coupling(FlowCoupling::kFibre); }, "prior = chain: expected coupling = independent or ot"},
           {[](ModelSpec& m) { m.features(StateFeatures::kEvent); }, "prior = chain: expected features = none"},
           {[](ModelSpec& m) { m.cut(1e-3); }, "prior = chain: expected cut = 0"}}) {
    ModelSpec wrong = specs[15];
    change(wrong);
    EXPECT_ERROR_CONTAINS(wrong.validate(), message);
  }
  ModelSpec invariants(ModelKind::kFlow);
  invariants.features(StateFeatures::kInvariants);
  EXPECT_EQ(invariants.extra_inputs(10), 10);  // features = invariants: N per particle
  // Settings that cannot go together are named.
  ModelSpec bad = specs[13];
  bad.network().kind(NetworkKind::kTransformer);
  EXPECT_ERROR_CONTAINS(bad.validate(), "prior = dalitz: expected network = mlp");
  bad = specs[13];
  bad.features(StateFeatures::kInvariants);
  EXPECT_ERROR_CONTAINS(bad.validate(), "prior = dalitz: expected features = none");
  bad = specs[14];
  bad.features(StateFeatures::kInvariants);
  EXPECT_ERROR_CONTAINS(bad.validate(), "features = invariants: expected network = mlp");
  bad.features(StateFeatures::kNone).flow().prior(FlowPriorChoice::kLatent);
  EXPECT_ERROR_CONTAINS(bad.validate(), "pair_bias: expected a model whose state is q-space");
  bad = specs[14];
  bad.cut(0.5);
  EXPECT_ERROR_CONTAINS(bad.validate(), "cut: expected a smallest s_ij/s in [0, 1/3), but got 0.5");
  EXPECT_FALSE(ModelSpec(ModelKind::kPFlow).conserving());
  EXPECT_FALSE(ModelSpec(ModelKind::kPDdpm).conserving());
  EXPECT_TRUE(ModelSpec(ModelKind::kVp).conserving());
  // The p-space baselines' defaults are the paper's.
  EXPECT_EQ(ModelSpec(ModelKind::kPFlow).flow().solver(), OdeSolver::kEuler);
  EXPECT_EQ(ModelSpec(ModelKind::kPFlow).flow().nfe(), 500);
  EXPECT_EQ(ModelSpec(ModelKind::kPDdpm).vp().sampler(), VpSampler::kDdpm);
  EXPECT_EQ(ModelSpec(ModelKind::kPDdpm).vp().grid(), VpGrid::kTime);
}

TEST(ModelSpec, TablesAreCheckedAndSamplerSettingsOverriddenByName) {
  // A sampler override through the table, as a flag gives it.
  const ModelSpec vp(ModelKind::kVp);
  CardSection t = vp.to_table();
  t.set_text("sampler", "heun", "--sampler");
  t.set_text("nfe", "9", "--nfe");
  const ModelSpec fast = ModelSpec::from_table(t);
  EXPECT_EQ(fast.vp().sampler(), VpSampler::kHeun);
  EXPECT_EQ(fast.vp().nfe(), 9);
  EXPECT_TRUE(fast != vp);
  const VpFamily fast_family(fast.vp(), StateSpace::latent(fast.lift(), 1.0));
  EXPECT_EQ(fast_family.evaluations(), 9);
  EXPECT_EQ(fast_family.last_step(), 5);

  // Keys of other kinds are left out, not read.
  CardSection foreign = vp.to_table();
  foreign.set_text("solver", "rk4", "--solver");
  const ModelSpec unchanged = ModelSpec::from_table(foreign);
  EXPECT_TRUE(unchanged == vp);
  EXPECT_FALSE(unchanged.to_table().has("solver"));

  EXPECT_ERROR_CONTAINS(ModelSpec::from_card_text("[model]\nkind = \"vp\"\nsampler = \"euler\"\n", "card"),
                        "unknown sampler 'euler'");
  EXPECT_ERROR_CONTAINS(ModelSpec::from_card_text("[model]\nkind = \"gan\"\n", "card"), "kind: unknown model 'gan'");
  EXPECT_ERROR_CONTAINS(ModelSpec::from_card_text("[model]\nkind = \"langevin\"\nsampler = \"ddim\"\n", "card"),
                        "sampler: expected em or heun for a Langevin model, but got 'ddim'");
  EXPECT_ERROR_CONTAINS(ModelSpec::from_card_text("[model]\nkind = \"flow\"\ntime_law = \"late\"\n", "card"),
                        "time_law: expected uniform, data or noise, but got 'late'");
  EXPECT_ERROR_CONTAINS(kFlowTimeLawNames.parse("late"), "time_law: expected uniform, data or noise, but got 'late'");
  CardSection no_step = vp.to_table();
  no_step.set_text("sampler", "heun", "--sampler");
  no_step.set_text("nfe", "0", "--nfe");
  EXPECT_FALSE(test::error_of([&] { ModelSpec::from_table(no_step); }).empty());
  ModelSpec gaussian_fibre(ModelKind::kFlow);
  gaussian_fibre.flow().prior(FlowPriorChoice::kGaussian).coupling(FlowCoupling::kFibre);
  EXPECT_ERROR_CONTAINS(gaussian_fibre.validate(), "coupling = fibre: expected the rambo or latent prior");

  // A Langevin card without a sampler: the paper's sampler over the whole schedule, and overridable.
  const ModelSpec old = ModelSpec::from_card_text("[model]\nkind = \"langevin\"\n", "card");
  EXPECT_EQ(old.langevin().sampler(), LangevinSampler::kEulerMaruyama);
  EXPECT_EQ(old.to_table().get_int("nfe"), 500);  // the schedule's T, written out
  EXPECT_TRUE(ModelSpec::from_table(old.to_table()) == old);
  EXPECT_EQ(LangevinFamily(old.langevin(), old.lift(), 1.0).evaluations(), 500);
  CardSection heun_table = old.to_table();
  heun_table.set_text("sampler", "heun", "--sampler");
  heun_table.set_text("nfe", "19", "--nfe");
  const ModelSpec heun = ModelSpec::from_table(heun_table);
  EXPECT_EQ(heun.langevin().sampler(), LangevinSampler::kHeun);
  EXPECT_EQ(heun.langevin().nfe(), 19);
  const LangevinFamily heun_family(heun.langevin(), heun.lift(), 1.0);
  EXPECT_EQ(heun_family.evaluations(), 19);
  EXPECT_EQ(heun_family.sampler_description(), "probability-flow ODE, heun, 19 NFE");
}

}  // namespace
}  // namespace phasegen
