// Judging generated events against a truth: per-observable distances and a classifier two-sample
// test (a small network trained to tell the two sets apart; its ROC AUC on held-out events is 0.5
// when it cannot).
//
//   phasegen::ClassifierOptions opts;                       // 20k events per side at most
//   auto r = phasegen::classifier_test(truth, samples, 1.0, opts);
//   std::printf("AUC %.4f +- %.4f\n", r.auc, r.auc_error);  // bootstrap error over the test events
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "phasegen/eval/stats.hpp"

namespace phasegen {

/// W1, Kolmogorov-Smirnov and chi2 (equal-truth-fraction bins) of two samples of one observable.
struct Distances {
  double w1;
  KsResult ks;
  Chi2Result chi2;
};
Distances distances(const at::Tensor& truth, const at::Tensor& samples, int bins);

/// The classifier's view of an event, in the stored particle order (labelled particles keep their
/// labels; a shuffled truth asks a model for shuffled events too): (E, p) / sqrt_s per particle,
/// log(2 p_i.p_j / s) per pair, then the energies / sqrt_s sorted in decreasing order.
/// [batch, N, 4] -> [batch, 4N + N(N-1)/2 + N].
at::Tensor classifier_features(const at::Tensor& p, double sqrt_s);

/// ROC AUC of `scores` for labels 1 against labels 0 (the Mann-Whitney statistic, ties counted
/// half). scores, labels [n] with both labels present.
double roc_auc(const at::Tensor& scores, const at::Tensor& labels);

struct ClassifierOptions {
  std::int64_t max_events = 20000;  ///< events per side at most; half train, half test
  std::int64_t hidden = 64;         ///< width of the 3 hidden layers (SiLU)
  std::int64_t steps = 1500;        ///< Adam steps of minibatches of 512
  double lr = 1e-3;
  std::int64_t bootstrap = 200;     ///< resamples of the test events for the AUC's error
  std::uint64_t seed = 1;
};

struct ClassifierResult {
  double auc;
  double auc_error;  ///< bootstrap standard deviation
  std::int64_t events_per_side;
};

/// Trains the classifier on half of min(|a|, |b|, max_events) events of each set (a: label 0) and
/// returns its AUC on the other half. Deterministic for a seed on a given machine and thread count.
ClassifierResult classifier_test(const at::Tensor& a, const at::Tensor& b, double sqrt_s,
                                 const ClassifierOptions& options);

}  // namespace phasegen
