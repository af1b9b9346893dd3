#include "phasegen/eval/evaluate.hpp"

#include <torch/csrc/autograd/autograd.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <cstdarg>
#include <cstdio>
#include <vector>

#include "phasegen/core/error.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/io/json.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen {

Distances distances(const at::Tensor& truth, const at::Tensor& samples, int bins) {
  return {wasserstein1(truth, samples), ks_test(truth, samples), chi2_test(truth, samples, bins)};
}

Distances distances(const at::Tensor& truth, const at::Tensor& samples, int bins, const at::Tensor& weights) {
  if (!weights.defined()) return distances(truth, samples, bins);
  return {wasserstein1(truth, samples, weights), ks_test(truth, samples, weights), chi2_test(truth, samples, bins, weights)};
}

at::Tensor classifier_features(const at::Tensor& p, double sqrt_s) {
  PHASEGEN_CHECK(p.dim() == 3 && p.size(2) == 4, "classifier: expected events [batch, N, 4], but got ", p.sizes());
  const at::Tensor x = p.to(at::kDouble) / sqrt_s;
  const at::Tensor pairs = at::log(pair_invariants(x).clamp_min(1e-30));  // log(s_ij / s)
  return at::cat({x.flatten(1), pairs, sorted_energies(x)}, 1);
}

double roc_auc(const at::Tensor& scores, const at::Tensor& labels) {
  return roc_auc(scores, labels, at::ones({scores.numel()}, at::kDouble));
}

double roc_auc(const at::Tensor& scores, const at::Tensor& labels, const at::Tensor& weights) {
  const at::Tensor s = scores.to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor l = labels.to(at::kCPU, at::kLong).contiguous();
  const at::Tensor w = weights.to(at::kCPU, at::kDouble).contiguous();
  PHASEGEN_CHECK(s.dim() == 1 && l.sizes() == s.sizes() && w.sizes() == s.sizes(),
                 "roc_auc: expected scores, labels and weights of one length");
  const std::int64_t n = s.size(0);
  const double* x = s.data_ptr<double>();
  const std::int64_t* y = l.data_ptr<std::int64_t>();
  const double* v = w.data_ptr<double>();
  std::vector<std::int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](std::int64_t i, std::int64_t j) { return x[i] < x[j]; });
  // Through the scores in increasing order: each positive beats the negative weight below it, and
  // ties with the negatives of its own score count half.
  double below = 0, wins = 0, positives = 0, negatives = 0;
  for (std::int64_t start = 0; start < n;) {
    std::int64_t end = start;
    double pos = 0, neg = 0;
    while (end < n && x[idx[end]] == x[idx[start]]) {
      (y[idx[end]] == 1 ? pos : neg) += v[idx[end]];
      ++end;
    }
    wins += pos * (below + 0.5 * neg);
    below += neg;
    positives += pos;
    negatives += neg;
    start = end;
  }
  PHASEGEN_CHECK(positives > 0 && negatives > 0, "roc_auc: expected both labels among the scores");
  return wins / (positives * negatives);
}

namespace {

// A multilayer perceptron with plain parameter tensors, initialised from the generator.
struct Classifier {
  std::vector<at::Tensor> weights, biases;

  Classifier(std::int64_t inputs, std::int64_t hidden, at::Generator& gen) {
    const std::vector<std::int64_t> sizes = {inputs, hidden, hidden, hidden, 1};
    for (std::size_t k = 0; k + 1 < sizes.size(); ++k) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(sizes[k]));
      weights.push_back(at::empty({sizes[k + 1], sizes[k]}, at::kFloat).uniform_(-bound, bound, gen).requires_grad_());
      biases.push_back(at::empty({sizes[k + 1]}, at::kFloat).uniform_(-bound, bound, gen).requires_grad_());
    }
  }
  std::vector<at::Tensor> parameters() const {
    std::vector<at::Tensor> all = weights;
    all.insert(all.end(), biases.begin(), biases.end());
    return all;
  }
  at::Tensor forward(at::Tensor x) const {
    for (std::size_t k = 0; k < weights.size(); ++k) {
      x = at::addmm(biases[k], x, weights[k].t());
      if (k + 1 < weights.size()) x = at::silu(x);
    }
    return x.squeeze(1);
  }
};

}  // namespace

ClassifierResult classifier_test(const at::Tensor& a, const at::Tensor& b, double sqrt_s,
                                 const ClassifierOptions& options, const at::Tensor& b_weights) {
  PHASEGEN_CHECK(a.dim() == 3 && b.dim() == 3 && a.size(1) == b.size(1),
                 "classifier: expected two event sets of one N, but got ", a.sizes(), " and ", b.sizes());
  PHASEGEN_CHECK(!b_weights.defined() || (b_weights.dim() == 1 && b_weights.size(0) == b.size(0)),
                 "classifier: expected one weight per event of the second set");
  const std::int64_t n = std::min({a.size(0), b.size(0), options.max_events()});
  PHASEGEN_CHECK(n >= 20, "classifier: expected at least 20 events per set, but got ", n);
  at::Generator gen = make_generator(options.seed());
  at::Tensor wb;  // the weights of the picked b events
  auto pick = [&](const at::Tensor& events, const at::Tensor& weights) {
    const at::Tensor rows = at::randperm(events.size(0), gen, at::kLong).narrow(0, 0, n);
    if (weights.defined()) wb = weights.to(at::kCPU, at::kDouble).index_select(0, rows);
    return classifier_features(events.index_select(0, rows), sqrt_s);
  };
  const at::Tensor fa = pick(a, {}), fb = pick(b, b_weights);
  const std::int64_t train = n / 2;
  // Per-row weights: 1 for a and for unweighted b; b's weights scaled to mean 1 over its training half.
  at::Tensor row_weights = at::ones({2 * n}, at::kDouble);
  if (wb.defined()) {
    const double mean = wb.narrow(0, 0, train).mean().item<double>();
    PHASEGEN_CHECK(mean > 0, "classifier: the weights of the second set's training half are all 0");
    row_weights.narrow(0, n, n).copy_(wb / mean);
  }
  const at::Tensor w_train = at::cat({row_weights.narrow(0, 0, train), row_weights.narrow(0, n, train)}).to(at::kFloat);
  const at::Tensor w_test = at::cat({row_weights.narrow(0, train, n - train), row_weights.narrow(0, n + train, n - train)});
  at::Tensor x_train = at::cat({fa.narrow(0, 0, train), fb.narrow(0, 0, train)});
  at::Tensor x_test = at::cat({fa.narrow(0, train, n - train), fb.narrow(0, train, n - train)});
  const at::Tensor y_train = at::cat({at::zeros({train}), at::ones({train})});
  const at::Tensor y_test = at::cat({at::zeros({n - train}, at::kLong), at::ones({n - train}, at::kLong)});
  // Standardised on the training events; constant features stay 0.
  const at::Tensor mean = x_train.mean(0), scale = x_train.std(0).clamp_min(1e-12);
  x_train = ((x_train - mean) / scale).to(at::kFloat);
  x_test = ((x_test - mean) / scale).to(at::kFloat);

  Classifier net(x_train.size(1), options.hidden(), gen);
  torch::optim::Adam optimiser(net.parameters(), torch::optim::AdamOptions(options.lr()));
  const std::int64_t batch = std::min<std::int64_t>(512, 2 * train);
  for (std::int64_t step = 0; step < options.steps(); ++step) {
    const at::Tensor rows = at::randint(0, 2 * train, {batch}, gen, at::kLong);
    const at::Tensor loss = at::binary_cross_entropy_with_logits(net.forward(x_train.index_select(0, rows)),
                                                                 y_train.index_select(0, rows),
                                                                 w_train.index_select(0, rows));
    optimiser.zero_grad();
    loss.backward();
    optimiser.step();
  }
  at::Tensor scores;
  {
    at::NoGradGuard no_grad;
    scores = net.forward(x_test);
  }
  ClassifierResult result{roc_auc(scores, y_test, w_test), 0.0, n};
  // Bootstrap: resample each class's test events with replacement.
  const std::int64_t m = n - train;
  double sum = 0, sum2 = 0;
  for (std::int64_t r = 0; r < options.bootstrap(); ++r) {
    const at::Tensor rows = at::cat({at::randint(0, m, {m}, gen, at::kLong), at::randint(m, 2 * m, {m}, gen, at::kLong)});
    const double auc = roc_auc(scores.index_select(0, rows), y_test.index_select(0, rows), w_test.index_select(0, rows));
    sum += auc;
    sum2 += auc * auc;
  }
  if (options.bootstrap() > 1) {
    const double k = static_cast<double>(options.bootstrap());
    result.auc_error = std::sqrt(std::max(0.0, (sum2 - sum * sum / k) / (k - 1)));
  }
  return result;
}

Distances truth_floor(const at::Tensor& truth, std::int64_t m, int bins) {
  const std::int64_t n = truth.size(0);
  PHASEGEN_CHECK(n >= 4, "floor: expected at least 4 truth events, but got ", n);
  m = std::clamp<std::int64_t>(m, 1, n / 2);
  return distances(truth.narrow(0, 0, n - m), truth.narrow(0, n - m, m), bins);
}

Conservation conservation_of(const at::Tensor& events, double sqrt_s) {
  Conservation c;
  c.worst_momentum = conservation_violation(events, sqrt_s).max().item<double>();
  c.worst_mass = mass_violation(events, sqrt_s).max().item<double>();
  const at::Tensor t = table_one_violation(events, sqrt_s).to(at::kCPU, at::kDouble);
  for (int i = 0; i < 4; ++i) c.table_one[static_cast<std::size_t>(i)] = t[i].item<double>();
  return c;
}

JudgedEvents read_judged(const std::string& path, const EventSet& truth, const std::string& truth_path,
                         double tolerance) {
  ReadOptions options;
  options.tolerance = tolerance;
  JudgedEvents set;
  set.path = path;
  set.label = std::filesystem::path(path).stem().string();
  EventSet events;
  try {
    events = read_events(path, options);
  } catch (const Error&) {
    options.require_conservation = false;
    options.sqrt_s = truth.sqrt_s;
    events = read_events(path, options);
    set.conserving = false;
  }
  const auto n = truth.momenta.size(1);
  PHASEGEN_CHECK(events.momenta.size(1) == n, "'", path, "' has events of N = ", events.momenta.size(1),
                 " particles, but the truth '", truth_path, "' has N = ", n);
  PHASEGEN_CHECK(std::abs(events.sqrt_s / truth.sqrt_s - 1.0) < 1e-6, "'", path, "' has sqrt_s = ",
                 events.sqrt_s, " GeV, but the truth '", truth_path, "' has sqrt_s = ", truth.sqrt_s, " GeV");
  set.events = events.momenta;
  set.weights = events.weights;
  return set;
}

EvalResult evaluate(const at::Tensor& truth, double sqrt_s, const std::vector<JudgedEvents>& sets,
                    const EvalOptions& options, const std::function<void(const std::string&)>& on_progress) {
  PHASEGEN_CHECK(truth.dim() == 3 && truth.size(2) == 4, "eval: expected truth events [n, N, 4], but got ",
                 truth.sizes());
  PHASEGEN_CHECK(options.bins() >= 2, "eval: expected at least 2 bins, but got ", options.bins());
  EvalResult result;
  result.truth_events = truth.size(0);
  result.particles = truth.size(1);
  result.sqrt_s = sqrt_s;
  result.options = options;
  PHASEGEN_CHECK(result.truth_events >= 80, "eval: expected at least 80 truth events (two halves for the floors), but got ",
                 result.truth_events);
  const std::vector<NamedObservable> observables = named_observables(result.particles, options.observables());
  // The truth's values of every observable, computed once.
  std::vector<at::Tensor> truth_values;
  for (const auto& o : observables) truth_values.push_back(o.compute(truth, sqrt_s));
  result.truth_conservation = conservation_of(truth, sqrt_s);
  const std::int64_t half = result.truth_events / 2;
  const at::Tensor truth_a = truth.narrow(0, 0, half), truth_b = truth.narrow(0, half, half);
  if (options.classifier()) {
    if (on_progress) on_progress("classifier, truth vs truth");
    result.classifier_floor = classifier_test(truth_a, truth_b, sqrt_s, options.classifier_options());
  }
  for (const JudgedEvents& set : sets) {
    const at::Tensor& p = set.events;
    PHASEGEN_CHECK(p.dim() == 3 && p.size(1) == result.particles && p.size(2) == 4, "eval: '", set.label,
                   "' has events of shape ", p.sizes(), ", but the truth's are [n, ", result.particles, ", 4]");
    PHASEGEN_CHECK(p.size(0) >= 40, "'", set.path.empty() ? set.label : set.path, "': expected at least 40 events, but got ",
                   p.size(0));
    SetResult r;
    r.label = set.label;
    r.path = set.path;
    r.events = p.size(0);
    r.conserving = set.conserving;
    r.weighted = set.weights.defined();
    if (r.weighted) {
      PHASEGEN_CHECK(set.weights.dim() == 1 && set.weights.size(0) == p.size(0), "eval: '", set.label,
                     "' has ", set.weights.numel(), " weights for ", p.size(0), " events");
      PHASEGEN_CHECK(set.weights.sum().item<double>() > 0, "eval: '", set.label, "': every weight is 0");
    }
    r.effective_events = r.weighted ? std::max<std::int64_t>(2, std::llround(effective_size(set.weights))) : r.events;
    for (std::size_t j = 0; j < observables.size(); ++j) {
      const ObservableResult o{observables[j].name, observables[j].unit,
                               distances(truth_values[j], observables[j].compute(p, sqrt_s), options.bins(), set.weights),
                               truth_floor(truth_values[j], r.effective_events, options.bins())};
      if (o.name == "u1") r.ks_u1 = o.model.ks.statistic;
      if (o.name == "u2") r.ks_u2 = o.model.ks.statistic;
      r.observables.push_back(o);
    }
    if (r.ks_u1 && r.ks_u2) r.rosenblatt_ks = std::max(*r.ks_u1, *r.ks_u2);
    if (options.classifier()) {
      if (on_progress) on_progress("classifier, truth vs " + set.label);
      r.classifier = classifier_test(truth_a, p, sqrt_s, options.classifier_options(), set.weights);
    }
    r.conservation = conservation_of(p, sqrt_s);
    result.sets.push_back(std::move(r));
  }
  return result;
}

namespace {

// printf into a string.
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
std::string format(const char* pattern, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, pattern);
  std::vsnprintf(buffer, sizeof buffer, pattern, args);
  va_end(args);
  return buffer;
}

double chi2_per_ndf(const Distances& d) { return d.chi2.ndf > 0 ? d.chi2.chi2 / d.chi2.ndf : 0.0; }

std::string row(const Distances& d) { return format("%9.3g %7.4f %8.3f", d.w1, d.ks.statistic, chi2_per_ndf(d)); }

}  // namespace

std::string eval_table(const EvalResult& result, const SetResult& set) {
  std::string out = format("\nsamples '%s' (%s): %lld events%s%s\n", set.path.c_str(), set.label.c_str(),
                           static_cast<long long>(set.events),
                           set.weighted ? format(", weighted: effective size %lld, the floors at that size",
                                                 static_cast<long long>(set.effective_events)).c_str()
                                        : "",
                           set.conserving ? "" : "; they violate energy-momentum conservation (read at the truth's sqrt_s)");
  out += format("%-14s %9s %7s %8s | floor: %9s %7s %8s\n", "observable", "W1", "KS D", "chi2/ndf", "W1", "KS D",
                "chi2/ndf");
  for (const ObservableResult& o : set.observables) {
    const std::string name = o.name + (o.unit.empty() ? "" : " [" + o.unit + "]");
    out += format("%-14s %s |        %s\n", name.c_str(), row(o.model).c_str(), row(o.floor).c_str());
  }
  if (set.classifier && result.classifier_floor) {
    out += format("%-14s %9.4f +- %.4f          | floor: %9.4f +- %.4f (%lld events per side)\n", "classifier AUC",
                  set.classifier->auc, set.classifier->auc_error, result.classifier_floor->auc,
                  result.classifier_floor->auc_error, static_cast<long long>(set.classifier->events_per_side));
  }
  const Conservation& c = set.conservation;
  const Conservation& t = result.truth_conservation;
  out += format("%-14s %9.3g | truth: %9.3g\n", "worst |dP|/rs", c.worst_momentum, t.worst_momentum);
  out += format("%-14s %9.3g | truth: %9.3g\n", "worst |dm|/rs", c.worst_mass, t.worst_mass);
  for (std::size_t i = 0; i < 4; ++i) {
    out += format("%-14s %9.3g | truth: %9.3g\n", kTableOneLabels[i], c.table_one[i], t.table_one[i]);
  }
  return out;
}

std::string headline(const SetResult& set) {
  std::string out = "headline (" + set.label + "): ";
  if (set.rosenblatt_ks) out += format("Rosenblatt KS %.4f (u1 %.4f, u2 %.4f), ", *set.rosenblatt_ks, *set.ks_u1, *set.ks_u2);
  if (set.classifier) out += format("classifier AUC %.4f +- %.4f, ", set.classifier->auc, set.classifier->auc_error);
  return out + format("worst conservation error %.3g", std::max(set.conservation.worst_momentum, set.conservation.worst_mass));
}

namespace {

std::string json_distances(const Distances& d, int indent) {
  return json_object({{"w1", json_number(d.w1)},
                      {"ks", json_number(d.ks.statistic)},
                      {"ks_p", json_number(d.ks.p_value)},
                      {"chi2_ndf", json_number(d.chi2.ndf > 0 ? d.chi2.chi2 / d.chi2.ndf : 0.0)},
                      {"chi2_p", json_number(d.chi2.p_value)}},
                     indent);
}

std::string json_classifier(const ClassifierResult& r, int indent) {
  return json_object({{"auc", json_number(r.auc)},
                      {"auc_error", json_number(r.auc_error)},
                      {"events_per_side", std::to_string(r.events_per_side)}},
                     indent);
}

std::string json_conservation(const Conservation& c, int indent) {
  return json_object({{"worst_momentum_over_sqrt_s", json_number(c.worst_momentum)},
                      {"worst_mass_over_sqrt_s", json_number(c.worst_mass)},
                      {"table_one_E", json_number(c.table_one[0])},
                      {"table_one_px", json_number(c.table_one[1])},
                      {"table_one_py", json_number(c.table_one[2])},
                      {"table_one_pz", json_number(c.table_one[3])}},
                     indent);
}

}  // namespace

std::string eval_json(const EvalResult& result, const std::string& truth_path, const std::vector<std::string>& plots) {
  std::string samples = "[";
  for (std::size_t k = 0; k < result.sets.size(); ++k) {
    const SetResult& set = result.sets[k];
    std::vector<std::pair<std::string, std::string>> observables;
    for (const ObservableResult& o : set.observables) {
      observables.emplace_back(o.name, json_object({{"unit", json_string(o.unit)},
                                                    {"model", json_distances(o.model, 10)},
                                                    {"floor", json_distances(o.floor, 10)}},
                                                   8));
    }
    std::vector<std::pair<std::string, std::string>> members = {{"label", json_string(set.label)},
                                                                {"path", json_string(set.path)},
                                                                {"events", std::to_string(set.events)},
                                                                {"weighted", set.weighted ? "true" : "false"},
                                                                {"effective_events", std::to_string(set.effective_events)},
                                                                {"conserving", set.conserving ? "true" : "false"},
                                                                {"observables", json_object(observables, 6)}};
    if (set.classifier) members.emplace_back("classifier", json_classifier(*set.classifier, 6));
    members.emplace_back("conservation", json_conservation(set.conservation, 6));
    samples += std::string(k ? "," : "") + "\n    " + json_object(members, 4);
  }
  samples += "\n  ]";
  std::string json_plots = "[";
  for (std::size_t k = 0; k < plots.size(); ++k) json_plots += (k ? ", " : "") + json_string(plots[k]);
  json_plots += "]";
  const ClassifierOptions& c = result.options.classifier_options();
  std::vector<std::pair<std::string, std::string>> members = {
      {"phasegen_eval", "1"},
      {"truth", json_object({{"path", json_string(truth_path)},
                             {"events", std::to_string(result.truth_events)},
                             {"particles", std::to_string(result.particles)},
                             {"sqrt_s", json_number(result.sqrt_s)},
                             {"conservation", json_conservation(result.truth_conservation, 4)}},
                            2)},
      {"settings", json_object({{"bins", std::to_string(result.options.bins())},
                                {"classifier_events", std::to_string(c.max_events())},
                                {"classifier_steps", std::to_string(c.steps())},
                                {"seed", std::to_string(c.seed())},
                                {"floor", json_string("observables: the last m truth events (m = the set's size, at "
                                                      "most half) against the others; classifier: the first half "
                                                      "of the truth against the second")}},
                               2)}};
  if (result.classifier_floor) members.emplace_back("classifier_floor", json_classifier(*result.classifier_floor, 2));
  members.emplace_back("samples", samples);
  members.emplace_back("plots", json_plots);
  return json_object(members, 0) + "\n";
}

}  // namespace phasegen
