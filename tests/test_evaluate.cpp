#include "phasegen/eval/evaluate.hpp"

#include <cmath>

#include "phasegen/physics/phasespace.hpp"
#include "phasegen/physics/targets.hpp"
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
  o.steps = 400;
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
  o.steps = 400;
  const ClassifierResult r = classifier_test(a, b, muon.sqrt_s, o);
  EXPECT_GT(r.auc, 0.6);
  EXPECT_GT(r.auc - 0.5, 5.0 * r.auc_error);
  EXPECT_ERROR_CONTAINS(classifier_test(a.narrow(0, 0, 10), b, 1.0, o), "at least 20 events");
  EXPECT_ERROR_CONTAINS(classifier_test(a, sample_uniform_phase_space(50, 4, 1.0, gen), 1.0, o), "of one N");
}

}  // namespace
}  // namespace phasegen
