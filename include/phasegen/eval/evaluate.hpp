// Judging generated events against a truth: per-observable distances, a classifier two-sample test
// (a small network trained to tell the two sets apart; its ROC AUC on held-out events is 0.5 when
// it cannot) and the conservation metrics, each beside its truth-vs-truth floor.
//
//   phasegen::EvalResult r = phasegen::evaluate(truth, {{"Langevin", events}}, phasegen::EvalOptions());
//   std::cout << phasegen::eval_table(r, r.sets[0]) << phasegen::headline(r.sets[0]) << "\n";
//
// The floor of a figure for a set of m events: the same figure between m truth events (the last m,
// m at most half the truth) and the other n - m, so that it shows what sampling noise alone gives at
// the set's size. The classifier's floor: the first half of the truth against the second.
#pragma once

#include <ATen/ATen.h>

#include <torch/arg.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <functional>

#include "phasegen/eval/stats.hpp"
#include "phasegen/io/event_io.hpp"

namespace phasegen {

/// W1, Kolmogorov-Smirnov and chi2 (equal-truth-fraction bins) of two samples of one observable.
struct Distances {
  double w1;
  KsResult ks;
  Chi2Result chi2;
};
Distances distances(const at::Tensor& truth, const at::Tensor& samples, int bins);
/// The same with the samples weighted (weights [m]; undefined: unweighted), see stats.hpp.
Distances distances(const at::Tensor& truth, const at::Tensor& samples, int bins, const at::Tensor& weights);

/// The classifier's view of an event, in the stored particle order (labelled particles keep their
/// labels; a shuffled truth asks a model for shuffled events too): (E, p) / sqrt_s per particle,
/// log(2 p_i.p_j / s) per pair, then the energies / sqrt_s sorted in decreasing order.
/// [batch, N, 4] -> [batch, 4N + N(N-1)/2 + N].
at::Tensor classifier_features(const at::Tensor& p, double sqrt_s);

/// ROC AUC of `scores` for labels 1 against labels 0 (the Mann-Whitney statistic, ties counted
/// half). scores, labels [n] with both labels present.
double roc_auc(const at::Tensor& scores, const at::Tensor& labels);
/// The weighted AUC: sum over (positive i, negative j) of w_i w_j [s_i > s_j] (ties half) over
/// (sum of positive weights)(sum of negative weights).
double roc_auc(const at::Tensor& scores, const at::Tensor& labels, const at::Tensor& weights);

struct ClassifierOptions {
  TORCH_ARG(std::int64_t, max_events) = 20000;  ///< events per side at most; half train, half test
  TORCH_ARG(std::int64_t, hidden) = 64;         ///< width of the 3 hidden layers (SiLU)
  TORCH_ARG(std::int64_t, steps) = 1500;        ///< Adam steps of minibatches of 512
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(std::int64_t, bootstrap) = 200;     ///< resamples of the test events for the AUC's error
  TORCH_ARG(std::uint64_t, seed) = 1;
};

struct ClassifierResult {
  double auc;
  double auc_error;  ///< bootstrap standard deviation
  std::int64_t events_per_side;
};

/// Trains the classifier on half of min(|a|, |b|, max_events) events of each set (a: label 0) and
/// returns its AUC on the other half. Deterministic for a seed on a given machine and thread count.
/// With `b_weights` (one per event of b) the b events count by their weights, in the loss (scaled to
/// mean 1 over the training half) and in the AUC.
ClassifierResult classifier_test(const at::Tensor& a, const at::Tensor& b, double sqrt_s,
                                 const ClassifierOptions& options, const at::Tensor& b_weights = {});

/// The same figures between m truth values (the last m, at most half) and the other n - m: the
/// floor of a set of m events. truth [n] with n >= 4.
Distances truth_floor(const at::Tensor& truth, std::int64_t m, int bins);

/// Energy-momentum conservation of events, in units of sqrt(s): the worst violations and the
/// paper's Table I means (|dE|, |dpx|, |dpy|, |dpz| over each event's median energy).
struct Conservation {
  double worst_momentum = 0.0;
  double worst_mass = 0.0;
  std::array<double, 4> table_one{};
};
Conservation conservation_of(const at::Tensor& events, double sqrt_s);

/// A set of events to judge, with its name and where it came from.
struct JudgedEvents {
  JudgedEvents() = default;
  JudgedEvents(std::string label_, at::Tensor events_, bool conserving_ = true, std::string path_ = "")
      : label(std::move(label_)), events(std::move(events_)), conserving(conserving_), path(std::move(path_)) {}

  std::string label;
  at::Tensor events;        ///< [m, N, 4]
  bool conserving = true;   ///< false: read leniently, it breaks conservation (a p-space baseline)
  std::string path;         ///< the file, for the reports ("" if none)
  at::Tensor weights;       ///< [m] per-event weights (reweighted events), or undefined
};

/// Events to judge from a file: read strictly, or, when they violate energy-momentum conservation
/// (a p-space baseline), leniently at the truth's sqrt_s, so that the violation can be measured.
/// Other defects (NaN, massive particles, an empty file) still throw, as do an N or sqrt_s other
/// than the truth's. The label is the file's stem.
JudgedEvents read_judged(const std::string& path, const EventSet& truth, const std::string& truth_path,
                         double tolerance);

struct EvalOptions {
  /// Observables by name (standard_observables' names); empty: all of them.
  TORCH_ARG(std::vector<std::string>, observables);
  TORCH_ARG(int, bins) = 50;  ///< bins of the chi2 tests (equal truth fractions)
  /// Whether to run the classifier test (training a network per set: the slow part).
  TORCH_ARG(bool, classifier) = true;
  TORCH_ARG(ClassifierOptions, classifier_options);
};

struct ObservableResult {
  std::string name, unit;
  Distances model;  ///< the whole truth against the set
  Distances floor;  ///< truth_floor at the set's size
};

struct SetResult {
  std::string label, path;
  std::int64_t events = 0;
  bool conserving = true;
  /// Weighted sets: judged with their weights; the floors are those of `effective_events` (the
  /// effective sample size (sum w)^2 / sum w^2, rounded) unweighted truth events.
  bool weighted = false;
  std::int64_t effective_events = 0;
  std::vector<ObservableResult> observables;
  std::optional<ClassifierResult> classifier;
  Conservation conservation;
  /// max(KS of u1, KS of u2) for N = 3 muon-like sets where both were judged.
  std::optional<double> rosenblatt_ks, ks_u1, ks_u2;
};

struct EvalResult {
  std::int64_t truth_events = 0;
  std::int64_t particles = 0;
  double sqrt_s = 0.0;
  Conservation truth_conservation;
  std::optional<ClassifierResult> classifier_floor;
  std::vector<SetResult> sets;
  EvalOptions options;
};

/// Judges every set against the truth (events [n, N, 4], n >= 80; each set of the same N with
/// >= 40 events). Deterministic for the options' seed on a given machine and thread count.
/// `on_progress` hears what starts next ("classifier, truth vs <label>"), for a long run's log.
EvalResult evaluate(const at::Tensor& truth, double sqrt_s, const std::vector<JudgedEvents>& sets,
                    const EvalOptions& options = {},
                    const std::function<void(const std::string&)>& on_progress = {});

/// The table of one set as eval prints it (distances beside floors, classifier AUC beside its
/// floor, conservation beside the truth's), and its one-line headline.
std::string eval_table(const EvalResult& result, const SetResult& set);
std::string headline(const SetResult& set);
/// The whole result as JSON (eval.json): the truth's `truth_path`, the settings, every set, and the
/// figures' paths `plots`.
std::string eval_json(const EvalResult& result, const std::string& truth_path, const std::vector<std::string>& plots);

/// Row labels of the paper's Table I metric, in the order of table_one_violation.
inline constexpr const char* kTableOneLabels[4] = {"<|dE|>/E_med", "<|dpx|>/E_med", "<|dpy|>/E_med",
                                                   "<|dpz|>/E_med"};

}  // namespace phasegen
