#include "phasegen/train.hpp"

#include <unistd.h>

#include <torch/cuda.h>
#include <torch/nn/utils/clip_grad.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "phasegen/error.hpp"
#include "phasegen/models.hpp"
#include "phasegen/observables.hpp"
#include "phasegen/parallel.hpp"
#include "phasegen/targets.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

namespace fs = std::filesystem;

class TrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("phasegen-train-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    TargetSpec muon;
    muon.kind = TargetKind::kMuon;
    at::Generator gen = make_generator(1);
    events_ = EventGenerator(muon).generate(3000, gen);
  }
  void TearDown() override { fs::remove_all(dir_); }

  TrainOptions options(const std::string& name, std::int64_t steps) const {
    TrainOptions o;
    o.batch = 128;
    o.steps = steps;
    o.lr = 3e-3;
    o.warmup = 5;
    o.ema = 0.9;
    o.validate_every = 5;
    o.checkpoint_every = 7;
    o.checkpoint = (dir_ / name).string();
    o.seed = 3;
    return o;
  }

  static NetworkOptions small() { return NetworkOptions().particles(3).hidden(32).layers(2).time_embedding(16); }

  ModelInfo info() const {
    ModelInfo i;
    i.model = "langevin";
    i.network = network_to_text(small());
    i.settings = model_.settings_text();
    i.card = "[train]\n";
    i.data = "particles = 3\npdg_ids = 11 14 -12\n";
    return i;
  }

  // The model's loss, made NaN at its `bad`-th call.
  LossFunction poisoned(int bad) const {
    return [base = model_.loss_function(), calls = std::make_shared<int>(0), bad](
               QNetworkImpl& net, const at::Tensor& events, at::Generator& gen) {
      at::Tensor loss = base(net, events, gen);
      return ++*calls == bad ? loss * std::numeric_limits<double>::quiet_NaN() : loss;
    };
  }

  // Trains and returns the loss of every step.
  std::vector<double> train(Trainer& trainer, const at::Tensor& events) {
    std::vector<double> losses;
    trainer.run(events, [&](const StepReport& r) { losses.push_back(r.loss); });
    return losses;
  }

  fs::path dir_;
  at::Tensor events_;
  LangevinModel model_{[] {
                         DiffusionOptions o;
                         o.divergence = "hutchinson";
                         return o;
                       }(),
                       LiftOptions::random(), 1.0};
};

TEST_F(TrainTest, ASmallRunsLossFalls) {
  Trainer trainer(make_network(small()), model_.loss_function(), options("fall.ckpt", 120), info());
  std::vector<double> losses = train(trainer, events_);
  ASSERT_EQ(losses.size(), 120u);
  double first = 0, last = 0;
  for (int i = 0; i < 20; ++i) first += losses[i], last += losses[100 + i];
  EXPECT_LT(last / 20, first / 20 - 0.05) << "first " << first / 20 << ", last " << last / 20;
}

TEST_F(TrainTest, ResumedRunRepeatsTheUninterruptedOne) {
  for (const int workers : {1, 2}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    TrainOptions a_options = options("a.ckpt", 30), b_options = options("b.ckpt", 30);
    a_options.workers = b_options.workers = workers;
    Trainer straight(make_network(small()), model_.loss_function(), a_options, info());
    std::vector<double> reference = train(straight, events_);

    Trainer first(make_network(small()), model_.loss_function(), b_options, info());
    std::vector<double> head;
    first.run(events_, [&](const StepReport& r) { head.push_back(r.loss); }, [&] { return head.size() == 12; });
    ASSERT_EQ(first.step(), 12);
    Trainer second(make_network(small()), model_.loss_function(), b_options, info());
    second.resume();
    EXPECT_EQ(second.step(), 12);
    std::vector<double> tail = train(second, events_);
    ASSERT_EQ(tail.size(), 18u);
    for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(head[i], reference[i]) << "step " << i + 1;
    for (std::size_t i = 0; i < 18; ++i) EXPECT_EQ(tail[i], reference[12 + i]) << "step " << 13 + i;
    // The final checkpoints hold the same weights.
    Checkpoint a = load_checkpoint((dir_ / "a.ckpt").string());
    Checkpoint b = load_checkpoint((dir_ / "b.ckpt").string());
    EXPECT_EQ(a.step, 30);
    EXPECT_TRUE(a.ema);
    auto pa = a.net->parameters(), pb = b.net->parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(at::equal(pa[i], pb[i]));
  }
}

TEST(Workers, AutomaticCountIsOnePerCpuWithEnoughRowsEach) {
  EXPECT_EQ(resolve_workers(3, 10), 3);  // asked for: as given
  EXPECT_EQ(resolve_workers(0, 100), 1);
  EXPECT_EQ(resolve_workers(0, 0), 1);
  const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(resolve_workers(0, 1 << 20), cpus);
  EXPECT_EQ(resolve_workers(0, 2 * kMinRowsPerWorker), std::min(cpus, 2));
}

TEST(Workers, PartsGiveTheGradientOfTheMeanLossAndKeepLossGroupsWhole) {
  auto net = make_network(NetworkOptions().particles(3).hidden(16).layers(2).time_embedding(8));
  at::Generator gen = make_generator(4);
  {
    at::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.copy_(at::randn(p.sizes(), gen, p.options()) * 0.3);
  }
  std::mutex mutex;
  std::vector<std::int64_t> sizes;
  // A mean of per-row terms (and the row counts each part saw).
  const LossFunction loss = [&](QNetworkImpl& n, const at::Tensor& rows, at::Generator&) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      sizes.push_back(rows.size(0));
    }
    return n.forward(rows, at::full({rows.size(0)}, 0.3f)).pow(2).flatten(1).sum(1).mean();
  };
  auto part_gen = [](int part) { return make_generator(100 + static_cast<std::uint64_t>(part)); };
  auto gradients = [&](const at::Tensor& rows, int workers, std::int64_t group) {
    for (auto& p : net->parameters()) p.mutable_grad() = at::Tensor();
    sizes.clear();
    const double value = loss_and_gradients(*net, loss, rows, gen, workers, group, part_gen).item<double>();
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
  const LossFunction failing = [](QNetworkImpl&, const at::Tensor& rows, at::Generator&) -> at::Tensor {
    PHASEGEN_CHECK(rows.size(0) != 5, "a part of 5 rows");
    return rows.sum() * 0.0;
  };
  EXPECT_ERROR_CONTAINS(loss_and_gradients(*net, failing, at::zeros({10, 3, 3}), gen, 2, 1, part_gen), "a part of 5 rows");
}

TEST_F(TrainTest, NanLossStopsWithTheStepAndKeepsTheLastGoodCheckpoint) {
  TrainOptions o = options("nan.ckpt", 20);
  o.validate_every = 100;
  Trainer trainer(make_network(small()), poisoned(9), o, info());
  EXPECT_ERROR_CONTAINS(trainer.run(events_), "step 9: the training loss is nan; stopped. The last good checkpoint");
  EXPECT_EQ(load_checkpoint(o.checkpoint).step, 7);
}

TEST_F(TrainTest, ForeignTruncatedAndMissingCheckpointsAreRefused) {
  Trainer trainer(make_network(small()), model_.loss_function(), options("m.ckpt", 7), info());
  train(trainer, events_);
  ModelInfo other = info();
  other.network = network_to_text(small().hidden(64));
  Trainer wrong(make_network(small().hidden(64)), model_.loss_function(), options("m.ckpt", 7), other);
  EXPECT_ERROR_CONTAINS(wrong.resume(), "is from another model: its network differs (checkpoint has 'hidden = 32'");
  const std::string path = (dir_ / "m.ckpt").string();
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  {
    std::ofstream out((dir_ / "cut.ckpt").string(), std::ios::binary);
    out << bytes.substr(0, bytes.size() / 2);
  }
  EXPECT_ERROR_CONTAINS(load_checkpoint((dir_ / "cut.ckpt").string()), "is not a readable checkpoint (truncated or corrupt?)");
  EXPECT_ERROR_CONTAINS(load_checkpoint((dir_ / "absent.ckpt").string()), "no such file");
  TrainOptions big = options("big.ckpt", 5);
  big.batch = 4000;
  Trainer too_big(make_network(small()), model_.loss_function(), big, info());
  EXPECT_ERROR_CONTAINS(too_big.run(events_), "batch: expected a batch of at most the 2850 training events");
}

TEST(Device, NamesResolveAndAMissingGpuIsNamed) {
  EXPECT_TRUE(device_from_name("cpu").is_cpu());
  EXPECT_EQ(device_from_name("auto").is_cuda(), torch::cuda::is_available());
  if (!torch::cuda::is_available()) EXPECT_ERROR_CONTAINS(device_from_name("cuda"), "device = cuda: ");
  EXPECT_ERROR_CONTAINS(device_from_name("gpu"), "device: expected auto, cpu or cuda, but got 'gpu'");
}

// The clip that does not wait for the device gives LibTorch's numbers, above and below the limit.
TEST(Device, GradientClipEqualsLibTorchs) {
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

// On a GPU (skipped without one): training reads its loss back only now and then, still stops at
// the first non-finite step, and its checkpoint resumes there and samples on the CPU.
TEST_F(TrainTest, OnAGpuARunResumesAndItsCheckpointOpensOnTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU";
  TrainOptions o = options("gpu.ckpt", 60);
  o.device = at::Device(at::kCUDA, 0);
  o.checkpoint_every = 40;
  Trainer trainer(make_network(small()), model_.loss_function(), o, info());
  const std::vector<double> losses = train(trainer, events_);
  ASSERT_EQ(losses.size(), 60u);
  EXPECT_LT(losses.back(), losses.front());
  Checkpoint c = load_checkpoint(o.checkpoint);
  EXPECT_EQ(c.step, 60);
  EXPECT_TRUE(c.net->parameters().front().device().is_cpu());
  at::Generator gen = make_generator(2);
  const at::Tensor p = model_.sample_events(*c.net, 64, 3, gen);
  EXPECT_LE(conservation_violation(p, 1.0).max().item<double>(), 1e-12);
  o.steps = 80;
  Trainer resumed(make_network(small()), model_.loss_function(), o, info());
  resumed.resume();
  EXPECT_EQ(train(resumed, events_).size(), 20u);

  TrainOptions n = options("gpu-nan.ckpt", 20);
  n.device = o.device;
  n.validate_every = 100;
  Trainer failing(make_network(small()), poisoned(9), n, info());
  EXPECT_ERROR_CONTAINS(failing.run(events_), "step 9: the training loss is nan; stopped. The last good checkpoint");
  EXPECT_EQ(load_checkpoint(n.checkpoint).step, 7);
}

}  // namespace
}  // namespace phasegen
