#include "phasegen/eval/evaluate.hpp"

#include <torch/csrc/autograd/autograd.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "phasegen/core/error.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen {

Distances distances(const at::Tensor& truth, const at::Tensor& samples, int bins) {
  return {wasserstein1(truth, samples), ks_test(truth, samples), chi2_test(truth, samples, bins)};
}

at::Tensor classifier_features(const at::Tensor& p, double sqrt_s) {
  PHASEGEN_CHECK(p.dim() == 3 && p.size(2) == 4, "classifier: expected events [batch, N, 4], but got ", p.sizes());
  const at::Tensor x = p.to(at::kDouble) / sqrt_s;
  const at::Tensor pairs = at::log(pair_invariants(x).clamp_min(1e-30));  // log(s_ij / s)
  return at::cat({x.flatten(1), pairs, sorted_energies(x)}, 1);
}

double roc_auc(const at::Tensor& scores, const at::Tensor& labels) {
  const at::Tensor s = scores.to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor l = labels.to(at::kCPU, at::kLong).contiguous();
  PHASEGEN_CHECK(s.dim() == 1 && l.sizes() == s.sizes(), "roc_auc: expected scores and labels of one length");
  const std::int64_t n = s.size(0);
  const double* x = s.data_ptr<double>();
  const std::int64_t* y = l.data_ptr<std::int64_t>();
  std::vector<std::int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](std::int64_t i, std::int64_t j) { return x[i] < x[j]; });
  double rank_sum = 0;
  std::int64_t positives = 0;
  for (std::int64_t start = 0; start < n;) {
    std::int64_t end = start;
    while (end < n && x[idx[end]] == x[idx[start]]) ++end;
    const double rank = 0.5 * static_cast<double>(start + 1 + end);  // mean of ranks start+1..end
    for (std::int64_t k = start; k < end; ++k) {
      if (y[idx[k]] == 1) {
        rank_sum += rank;
        ++positives;
      }
    }
    start = end;
  }
  const std::int64_t negatives = n - positives;
  PHASEGEN_CHECK(positives > 0 && negatives > 0, "roc_auc: expected both labels among the scores");
  const double np = static_cast<double>(positives), nn = static_cast<double>(negatives);
  return (rank_sum - np * (np + 1) / 2) / (np * nn);
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
                                 const ClassifierOptions& options) {
  PHASEGEN_CHECK(a.dim() == 3 && b.dim() == 3 && a.size(1) == b.size(1),
                 "classifier: expected two event sets of one N, but got ", a.sizes(), " and ", b.sizes());
  const std::int64_t n = std::min({a.size(0), b.size(0), options.max_events});
  PHASEGEN_CHECK(n >= 20, "classifier: expected at least 20 events per set, but got ", n);
  at::Generator gen = make_generator(options.seed);
  auto pick = [&](const at::Tensor& events) {
    return classifier_features(events.index_select(0, at::randperm(events.size(0), gen, at::kLong).narrow(0, 0, n)),
                               sqrt_s);
  };
  const at::Tensor fa = pick(a), fb = pick(b);
  const std::int64_t train = n / 2;
  at::Tensor x_train = at::cat({fa.narrow(0, 0, train), fb.narrow(0, 0, train)});
  at::Tensor x_test = at::cat({fa.narrow(0, train, n - train), fb.narrow(0, train, n - train)});
  const at::Tensor y_train = at::cat({at::zeros({train}), at::ones({train})});
  const at::Tensor y_test = at::cat({at::zeros({n - train}, at::kLong), at::ones({n - train}, at::kLong)});
  // Standardised on the training events; constant features stay 0.
  const at::Tensor mean = x_train.mean(0), scale = x_train.std(0).clamp_min(1e-12);
  x_train = ((x_train - mean) / scale).to(at::kFloat);
  x_test = ((x_test - mean) / scale).to(at::kFloat);

  Classifier net(x_train.size(1), options.hidden, gen);
  torch::optim::Adam optimiser(net.parameters(), torch::optim::AdamOptions(options.lr));
  const std::int64_t batch = std::min<std::int64_t>(512, 2 * train);
  for (std::int64_t step = 0; step < options.steps; ++step) {
    const at::Tensor rows = at::randint(0, 2 * train, {batch}, gen, at::kLong);
    const at::Tensor loss = at::binary_cross_entropy_with_logits(net.forward(x_train.index_select(0, rows)),
                                                                 y_train.index_select(0, rows));
    optimiser.zero_grad();
    loss.backward();
    optimiser.step();
  }
  at::Tensor scores;
  {
    at::NoGradGuard no_grad;
    scores = net.forward(x_test);
  }
  ClassifierResult result{roc_auc(scores, y_test), 0.0, n};
  // Bootstrap: resample each class's test events with replacement.
  const std::int64_t m = n - train;
  double sum = 0, sum2 = 0;
  for (std::int64_t r = 0; r < options.bootstrap; ++r) {
    const at::Tensor rows = at::cat({at::randint(0, m, {m}, gen, at::kLong), at::randint(m, 2 * m, {m}, gen, at::kLong)});
    const double auc = roc_auc(scores.index_select(0, rows), y_test.index_select(0, rows));
    sum += auc;
    sum2 += auc * auc;
  }
  if (options.bootstrap > 1) {
    const double k = static_cast<double>(options.bootstrap);
    result.auc_error = std::sqrt(std::max(0.0, (sum2 - sum * sum / k) / (k - 1)));
  }
  return result;
}

}  // namespace phasegen
