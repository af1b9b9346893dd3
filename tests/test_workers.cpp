#include "phasegen/training/workers.hpp"

#include <torch/nn/utils/clip_grad.h>

#include <algorithm>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "phasegen/core/parallel.hpp"
#include "phasegen/core/random.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

TEST(Workers, AutomaticCountIsOnePerCpuWithEnoughRowsEach) {
  EXPECT_EQ(resolve_workers(3, 10), 3);  // asked for: as given
  EXPECT_EQ(resolve_workers(0, 100), 1);
  EXPECT_EQ(resolve_workers(0, 0), 1);
  const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(resolve_workers(0, 1 << 20), cpus);
  EXPECT_EQ(resolve_workers(0, 2 * kMinRowsPerWorker), std::min(cpus, 2));
}

TEST(Workers, PartsGiveTheGradientOfTheMeanLossAndKeepLossGroupsWhole) {
  QNetwork net = make_network(NetworkOptions().particles(3).hidden(16).layers(2).time_embedding(8));
  at::Generator gen = make_generator(4);
  {
    at::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.copy_(at::randn(p.sizes(), gen, p.options()) * 0.3);
  }
  std::mutex mutex;
  std::vector<std::int64_t> sizes;
  // A mean of per-row terms (and the row counts each part saw).
  const LossFunction loss = [&](const at::Tensor& rows, at::Generator&) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      sizes.push_back(rows.size(0));
    }
    return net->forward(rows, at::full({rows.size(0)}, 0.3f)).pow(2).flatten(1).sum(1).mean();
  };
  auto part_gen = [](int part) { return make_generator(100 + static_cast<std::uint64_t>(part)); };
  auto gradients = [&](const at::Tensor& rows, int workers, std::int64_t group) {
    for (auto& p : net->parameters()) p.mutable_grad() = at::Tensor();
    sizes.clear();
    const double value = loss_and_gradients(net->parameters(), loss, rows, gen, workers, group, part_gen).item<double>();
    std::vector<at::Tensor> grads;
    for (auto& p : net->parameters()) grads.push_back(p.grad().clone());
    std::sort(sizes.begin(), sizes.end());
    return std::make_pair(value, grads);
  };
  const at::Tensor rows = at::randn({10, 3, 3}, gen, at::kFloat);
  const auto [whole, whole_grads] = gradients(rows, 1, 1);
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{10}));
  const auto [split, split_grads] = gradients(rows, 3, 1);
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{3, 3, 4}));
  EXPECT_NEAR(split, whole, 1e-6 * std::abs(whole));
  for (std::size_t i = 0; i < whole_grads.size(); ++i) {
    EXPECT_GT(test::max_abs(whole_grads[i]), 1e-4) << "parameter " << i;
    EXPECT_LE(test::max_abs(split_grads[i] - whole_grads[i]), 1e-6 * (1.0 + test::max_abs(whole_grads[i])))
        << "parameter " << i;
  }
  // Groups (an OT coupling's) stay whole: 1000 rows in groups of 256 are 512 + 488 on two workers,
  // 1024 rows 512 + 256 + 256 on three; one group is one part.
  gradients(at::randn({1000, 3, 3}, gen, at::kFloat), 2, 256);
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{488, 512}));
  gradients(at::randn({1024, 3, 3}, gen, at::kFloat), 3, 256);
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{256, 256, 512}));
  gradients(at::randn({200, 3, 3}, gen, at::kFloat), 2, 256);
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{200}));
  // An error in a part reaches the caller once every part has finished.
  const LossFunction failing = [](const at::Tensor& rows, at::Generator&) -> at::Tensor {
    PHASEGEN_CHECK(rows.size(0) != 5, "a part of 5 rows");
    return rows.sum() * 0.0;
  };
  EXPECT_ERROR_CONTAINS(loss_and_gradients(net->parameters(), failing, at::zeros({10, 3, 3}), gen, 2, 1, part_gen), "a part of 5 rows");
}

TEST(Workers, GradientClipEqualsLibTorchs) {
  at::Generator gen = make_generator(8);
  for (double max_norm : {0.5, 1e3}) {
    std::vector<at::Tensor> mine, theirs;
    for (std::int64_t size : {7, 30, 1}) {
      at::Tensor p = at::randn({size}, gen, at::kFloat).requires_grad_(true);
      p.mutable_grad() = at::randn({size}, gen, at::kFloat);
      at::Tensor q = p.detach().clone().requires_grad_(true);
      q.mutable_grad() = p.grad().clone();
      mine.push_back(p);
      theirs.push_back(q);
    }
    clip_gradients(mine, max_norm);
    torch::nn::utils::clip_grad_norm_(theirs, max_norm);
    for (std::size_t i = 0; i < mine.size(); ++i) EXPECT_TRUE(at::equal(mine[i].grad(), theirs[i].grad())) << max_norm;
  }
}

}  // namespace
}  // namespace phasegen
