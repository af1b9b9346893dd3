#include "phasegen/eval/evaluate.hpp"

#include <cmath>

#include "phasegen/physics/phasespace.hpp"
#include "phasegen/physics/targets.hpp"
#include "phasegen/physics/observables.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

TEST(RocAuc, CountsOrderedPairsAndHalfTies) {
  const at::Tensor labels = at::tensor({0, 0, 1, 1}, at::kLong);
  // Positive scores beat 3 of the 4 (positive, negative) pairs.
  EXPECT_DOUBLE_EQ(roc_auc(at::tensor({0.1, 0.4, 0.35, 0.8}), labels), 0.75);
  EXPECT_DOUBLE_EQ(roc_auc(at::tensor({1.0, 1.0, 1.0, 1.0}), labels), 0.5);
  EXPECT_DOUBLE_EQ(roc_auc(at::tensor({0.0, 0.5, 0.5, 1.0}), labels), 0.875);
  EXPECT_ERROR_CONTAINS(roc_auc(at::tensor({0.0, 1.0}), at::tensor({1, 1}, at::kLong)), "both labels");
}

TEST(RocAuc, WeightsCountAsRepeatedScores) {
  const at::Tensor scores = at::tensor({0.1, 0.4, 0.35, 0.8, 0.4}, at::kDouble);
  const at::Tensor labels = at::tensor({0, 0, 1, 1, 1}, at::kLong);
  EXPECT_NEAR(roc_auc(scores, labels, at::ones({5}, at::kDouble)), roc_auc(scores, labels), 1e-15);
  // Weights (1, 2, 1, 3, 2) as the scores repeated that often.
  const at::Tensor weights = at::tensor({1.0, 2.0, 1.0, 3.0, 2.0}, at::kDouble);
  const at::Tensor repeated_scores = at::tensor({0.1, 0.4, 0.4, 0.35, 0.8, 0.8, 0.8, 0.4, 0.4}, at::kDouble);
  const at::Tensor repeated_labels = at::tensor({0, 0, 0, 1, 1, 1, 1, 1, 1}, at::kLong);
  EXPECT_NEAR(roc_auc(scores, labels, weights), roc_auc(repeated_scores, repeated_labels), 1e-15);
}

TEST(ClassifierFeatures, MomentaLogPairInvariantsAndSortedEnergies) {
  at::Generator gen = make_generator(3);
  const at::Tensor p = sample_uniform_phase_space(50, 4, 91.2, gen);
  const at::Tensor f = classifier_features(p, 91.2);
  ASSERT_EQ(f.sizes(), (std::vector<std::int64_t>{50, 16 + 6 + 4}));
  EXPECT_LE(test::max_abs(f.narrow(1, 0, 16) - p.flatten(1) / 91.2), 1e-15);
  EXPECT_TRUE((f.narrow(1, 16, 6) < 0).all().item<bool>());  // s_ij < s
  const at::Tensor sorted = f.narrow(1, 22, 4);
  EXPECT_TRUE((sorted.narrow(1, 0, 3) >= sorted.narrow(1, 1, 3)).all().item<bool>());
  EXPECT_LE(test::max_abs(sorted.sum(1) - 1.0), 1e-12);
}

// Two independent samples of one law: the AUC is 0.5 within its error, and the bootstrap error
// agrees with the null standard deviation sqrt((n0 + n1 + 1) / (12 n0 n1)) of the Mann-Whitney AUC.
TEST(ClassifierTest, IndistinguishableSetsGiveOneHalf) {
  at::Generator gen = make_generator(4);
  const at::Tensor a = sample_uniform_phase_space(6000, 3, 1.0, gen);
  const at::Tensor b = sample_uniform_phase_space(6000, 3, 1.0, gen);
  ClassifierOptions o;
  o.steps(400);
  const ClassifierResult r = classifier_test(a, b, 1.0, o);
  EXPECT_EQ(r.events_per_side, 6000);
  const double null_sd = std::sqrt((3000.0 + 3000.0 + 1.0) / (12.0 * 3000.0 * 3000.0));
  EXPECT_GT(r.auc_error, 0.7 * null_sd);
  EXPECT_LT(r.auc_error, 1.4 * null_sd);
  EXPECT_LT(std::abs(r.auc - 0.5), 4.0 * null_sd) << "AUC " << r.auc;
  // The same seed gives the same figure.
  EXPECT_EQ(classifier_test(a, b, 1.0, o).auc, r.auc);
}

TEST(ClassifierTest, SeparatesMuonDecayFromFlatPhaseSpace) {
  at::Generator gen = make_generator(5);
  TargetSpec muon;
  muon.kind = TargetKind::kMuon;
  const at::Tensor a = sample_uniform_phase_space(6000, 3, muon.sqrt_s, gen);
  const at::Tensor b = EventGenerator(muon).generate(6000, gen);
  ClassifierOptions o;
  o.steps(400);
  const ClassifierResult r = classifier_test(a, b, muon.sqrt_s, o);
  EXPECT_GT(r.auc, 0.6);
  EXPECT_GT(r.auc - 0.5, 5.0 * r.auc_error);
  EXPECT_ERROR_CONTAINS(classifier_test(a.narrow(0, 0, 10), b, 1.0, o), "at least 20 events");
  EXPECT_ERROR_CONTAINS(classifier_test(a, sample_uniform_phase_space(50, 4, 1.0, gen), 1.0, o), "of one N");
}

// Flat phase space weighted by the muon density is muon decay: evaluate judges it with its weights
// (at its floors, the classifier at 0.5), the floors at its effective size; unweighted it is far off.
TEST(Evaluate, WeightedSetsAreJudgedWithTheirWeights) {
  at::Generator gen = make_generator(8);
  TargetSpec muon;
  muon.kind = TargetKind::kMuon;
  const at::Tensor truth = EventGenerator(muon).generate(8000, gen);
  const at::Tensor flat = sample_uniform_phase_space(6000, 3, muon.sqrt_s, gen);
  JudgedEvents weighted("reweighted", flat);
  weighted.weights = target_density(muon, flat);
  const EvalOptions o = EvalOptions().observables({"E_1", "E_3", "u1", "u2"}).bins(20).classifier_options(ClassifierOptions().steps(400));
  const EvalResult r = evaluate(truth, muon.sqrt_s, {weighted, {"flat", flat}}, o);
  const SetResult& w = r.sets[0];
  const SetResult& u = r.sets[1];
  EXPECT_TRUE(w.weighted);
  EXPECT_FALSE(u.weighted);
  EXPECT_EQ(u.effective_events, 6000);
  EXPECT_NEAR(static_cast<double>(w.effective_events), effective_size(weighted.weights), 0.5);
  EXPECT_LT(w.effective_events, 6000);
  for (std::size_t j = 0; j < w.observables.size(); ++j) {
    EXPECT_GT(w.observables[j].model.ks.p_value, 1e-4) << w.observables[j].name;
    EXPECT_LT(u.observables[j].model.ks.p_value, 1e-4) << u.observables[j].name;
    // The floor of the weighted set is that of its effective size.
    const at::Tensor values = named_observables(3, o.observables())[j].compute(truth, muon.sqrt_s);
    EXPECT_EQ(w.observables[j].floor.ks.statistic, truth_floor(values, w.effective_events, 20).ks.statistic);
  }
  EXPECT_LT(std::abs(w.classifier->auc - 0.5), 5 * w.classifier->auc_error + 0.01) << w.classifier->auc;
  EXPECT_GT(u.classifier->auc - 0.5, 5 * u.classifier->auc_error);
  EXPECT_NE(eval_table(r, w).find("weighted: effective size"), std::string::npos);
  EXPECT_NE(eval_json(r, "truth.pt", {}).find("\"weighted\": true"), std::string::npos);
}

// The floor is one definition: m truth values (the last m, at most half) against the other n - m.
TEST(Evaluate, TheFloorIsTheLastMTruthEventsAgainstTheRest) {
  at::Generator gen = make_generator(6);
  const at::Tensor truth = at::rand({1000}, gen, at::kDouble);
  const Distances f = truth_floor(truth, 100, 20);
  const Distances by_hand = distances(truth.narrow(0, 0, 900), truth.narrow(0, 900, 100), 20);
  EXPECT_EQ(f.ks.statistic, by_hand.ks.statistic);
  EXPECT_EQ(f.w1, by_hand.w1);
  // A set larger than half the truth is judged against halves.
  EXPECT_EQ(truth_floor(truth, 5000, 20).ks.statistic,
            distances(truth.narrow(0, 0, 500), truth.narrow(0, 500, 500), 20).ks.statistic);
}

// evaluate: a set drawn from the truth's law sits at its floors, flat phase space against muon
// decay does not; every figure is in the result, the table and the JSON.
TEST(Evaluate, JudgesSetsBesideTheirFloors) {
  at::Generator gen = make_generator(7);
  TargetSpec muon;
  muon.kind = TargetKind::kMuon;
  EventGenerator generator(muon);
  const at::Tensor truth = generator.generate(4000, gen);
  const at::Tensor same = generator.generate(2000, gen);
  const at::Tensor flat = sample_uniform_phase_space(2000, 3, muon.sqrt_s, gen);
  const EvalOptions o = EvalOptions().observables({"E_1", "u1", "u2"}).bins(20).classifier_options(ClassifierOptions().steps(300));
  const EvalResult r = evaluate(truth, muon.sqrt_s, {{"same", same}, {"flat", flat}}, o);
  ASSERT_EQ(r.sets.size(), 2u);
  ASSERT_TRUE(r.classifier_floor.has_value());
  for (const SetResult& set : r.sets) {
    ASSERT_EQ(set.observables.size(), 3u);
    ASSERT_TRUE(set.classifier && set.rosenblatt_ks);
    EXPECT_EQ(set.events, 2000);
    EXPECT_LE(set.conservation.worst_momentum, 1e-12);
    // The floor at the set's size, whatever the set.
    EXPECT_EQ(set.observables[0].floor.ks.statistic, r.sets[0].observables[0].floor.ks.statistic);
  }
  const SetResult& same_set = r.sets[0];
  const SetResult& flat_set = r.sets[1];
  // KS of the same law: at its floor (p not small); of flat against muon decay: far above it.
  EXPECT_GT(same_set.observables[0].model.ks.p_value, 1e-3);
  EXPECT_LT(flat_set.observables[0].model.ks.p_value, 1e-3);
  EXPECT_GT(flat_set.observables[0].model.ks.statistic, 2 * flat_set.observables[0].floor.ks.statistic);
  EXPECT_GT(*flat_set.rosenblatt_ks, 3 * std::max(flat_set.observables[1].floor.ks.statistic,
                                                  flat_set.observables[2].floor.ks.statistic));
  EXPECT_LT(std::abs(same_set.classifier->auc - 0.5), 5 * same_set.classifier->auc_error + 0.01);
  EXPECT_GT(flat_set.classifier->auc - 0.5, 5 * flat_set.classifier->auc_error);
  const std::string table = eval_table(r, flat_set);
  EXPECT_NE(table.find("classifier AUC"), std::string::npos) << table;
  EXPECT_NE(table.find("| floor:"), std::string::npos) << table;
  EXPECT_EQ(headline(flat_set).rfind("headline (flat): Rosenblatt KS ", 0), 0u) << headline(flat_set);
  const std::string json = eval_json(r, "truth.pt", {"plots/a.png"});
  for (const char* key : {"\"classifier_floor\"", "\"samples\"", "\"label\": \"flat\"", "\"plots/a.png\""}) {
    EXPECT_NE(json.find(key), std::string::npos) << key;
  }
  // Without the classifier nothing trains, and the rest is unchanged.
  const EvalResult quick = evaluate(truth, muon.sqrt_s, {{"flat", flat}}, EvalOptions(o).classifier(false));
  EXPECT_FALSE(quick.classifier_floor.has_value() || quick.sets[0].classifier.has_value());
  EXPECT_EQ(quick.sets[0].observables[2].model.ks.statistic, flat_set.observables[2].model.ks.statistic);
  EXPECT_ERROR_CONTAINS(evaluate(truth.narrow(0, 0, 50), muon.sqrt_s, {{"flat", flat}}, o), "at least 80 truth events");
  EXPECT_ERROR_CONTAINS(evaluate(truth, muon.sqrt_s, {{"few", flat.narrow(0, 0, 10)}}, o), "at least 40 events");
}

}  // namespace
}  // namespace phasegen
