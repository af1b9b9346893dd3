#include "phasegen/training/train.hpp"

#include <unistd.h>

#include <torch/cuda.h>

#include <filesystem>
#include <fstream>

#include "phasegen/core/error.hpp"
#include "phasegen/core/random.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/models/model.hpp"
#include "phasegen/models/spec.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/targets.hpp"
#include "phasegen/training/checkpoint.hpp"
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
    data_.momenta = EventGenerator(muon).generate(3000, gen);
    data_.sqrt_s = muon.sqrt_s;
    data_.pdg_ids = muon.pdg_ids();
  }
  void TearDown() override { fs::remove_all(dir_); }

  TrainOptions options(const std::string& name, std::int64_t steps) const {
    return TrainOptions()
        .batch(128)
        .steps(steps)
        .lr(3e-3)
        .warmup(5)
        .ema(0.9)
        .validate_every(5)
        .checkpoint_every(7)
        .checkpoint((dir_ / name).string())
        .seed(3);
  }

  // The Langevin model with Hutchinson's divergence on a small MLP (hidden 32 unless told).
  static ModelSpec spec(std::int64_t hidden = 32) {
    ModelSpec s(ModelKind::kLangevin);
    s.network().hidden(hidden).layers(2).time_embedding(16);
    s.langevin().divergence(DivergenceEstimate::kHutchinson);
    return s;
  }

  // A fresh model (a network of its own, the same initial weights every time) on the muon events.
  Model model(std::int64_t hidden = 32) const { return Model(spec(hidden), data_, 1); }

  // Trains and returns the loss of every step.
  static std::vector<double> train(Trainer& trainer, const at::Tensor& events) {
    std::vector<double> losses;
    trainer.run(events, [&](const StepReport& r) { losses.push_back(r.loss); });
    return losses;
  }

  // A run of `o` whose loss becomes NaN at step kept + 2, its last checkpoint before that at step
  // `kept` (the Trainer takes no custom loss to poison): trained with the options' learning rate
  // up to `kept` and stopped there (a checkpoint), then resumed with a learning rate of 1e30, whose
  // first update (step kept + 1) sends the weights past float32's range. Returns the resumed
  // trainer, ready to run into the NaN.
  Trainer poisoned(TrainOptions o, std::int64_t kept) {
    std::int64_t seen = 0;
    Trainer good(model(), o);
    good.run(data_.momenta, {}, [&] { return ++seen == kept; });
    EXPECT_EQ(good.step(), kept);
    o.lr(1e30);
    Trainer bad(model(), o);
    bad.resume();
    return bad;
  }

  // That `message` stops a run at `step` for its non-finite loss (NaN, of either sign: its sign is
  // the platform's), and then says `rest`.
  static void expect_stop_at(const std::string& message, std::int64_t step, const std::string& rest) {
    const std::string start = "step " + std::to_string(step) + ": the training loss is ";
    ASSERT_EQ(message.rfind(start, 0), 0u) << "message: " << message;
    const std::size_t value = start.size() + (message.compare(start.size(), 1, "-") == 0 ? 1 : 0);
    EXPECT_EQ(message.compare(value, 3, "nan"), 0) << "message: " << message;
    EXPECT_EQ(message.find("; stopped. " + rest), value + 3) << "message: " << message;
  }

  fs::path dir_;
  EventSet data_;
};

TEST_F(TrainTest, ASmallRunsLossFalls) {
  Trainer trainer(model(), options("fall.ckpt", 120));
  std::vector<double> losses = train(trainer, data_.momenta);
  ASSERT_EQ(losses.size(), 120u);
  double first = 0, last = 0;
  for (int i = 0; i < 20; ++i) first += losses[i], last += losses[100 + i];
  EXPECT_LT(last / 20, first / 20 - 0.05) << "first " << first / 20 << ", last " << last / 20;
}

// The settings for singular targets (invariant features, pair biases, the paper's Langevin model
// with them, the Dalitz-plane state), each in a short run on q qbar g events at msq = 1e-3: the
// loss falls, every state of the sampler is an exact event, and a model with the cut samples only
// events that pass it (refilled to the count asked for).
TEST_F(TrainTest, SingularSettingsTrainAndSampleExactEvents) {
  TargetSpec qqg;
  qqg.kind = TargetKind::kQqg;
  qqg.msq = 1e-3;
  at::Generator gen = make_generator(5);
  EventSet data;
  data.momenta = EventGenerator(qqg).generate(3000, gen);
  data.sqrt_s = qqg.sqrt_s;
  data.pdg_ids = qqg.pdg_ids();
  std::vector<ModelSpec> specs;
  ModelSpec invariants(ModelKind::kFlow);
  invariants.network().hidden(32).layers(2).time_embedding(16);
  invariants.features(StateFeatures::kInvariants).cut(0.02);
  invariants.flow().coupling(FlowCoupling::kFibre).nfe(8);
  specs.push_back(invariants);
  ModelSpec pairs(ModelKind::kFlow);
  pairs.network().kind(NetworkKind::kTransformer).model_dim(16).blocks(1).heads(2).time_embedding(16).pair_bias(true).pair_hidden(8);
  pairs.flow().coupling(FlowCoupling::kFibre).nfe(8);
  pairs.cut(0.02);
  specs.push_back(pairs);
  ModelSpec langevin(ModelKind::kLangevin);
  langevin.network(pairs.network());
  langevin.langevin().schedule(LangevinSchedule::kPaper).divergence(DivergenceEstimate::kHutchinson)
      .reference_score(ReferenceScore::kRegularised).parametrisation(ScoreParametrisation::kScoreOverSigma)
      .weighting(LossWeighting::kSigma2).variance(SamplerVariance::kPosterior).nfe(25);
  specs.push_back(langevin);
  ModelSpec dalitz(ModelKind::kFlow);
  dalitz.network().hidden(32).layers(2).time_embedding(16);
  dalitz.flow().prior(FlowPriorChoice::kDalitz).nfe(8);
  dalitz.cut(1e-3);
  specs.push_back(dalitz);
  for (const ModelSpec& spec : specs) {
    Model m(spec, data, 1);
    Trainer trainer(m, options("singular.ckpt", 80));
    std::vector<double> losses = train(trainer, data.momenta);
    ASSERT_EQ(losses.size(), 80u);
    double first = 0, last = 0;
    for (int i = 0; i < 15; ++i) first += losses[i], last += losses[65 + i];
    EXPECT_LT(last, first) << spec.description() << ": first " << first / 15 << ", last " << last / 15;
    const SampleResult r = m.sample(400, SampleOptions().seed(2).batch(150).trajectory_every(1).trajectory_events(50));
    EXPECT_EQ(r.events.size(0), 400) << spec.description();
    EXPECT_LE(r.worst_state_violation, 1e-12) << spec.description();
    EXPECT_LE(conservation_violation(r.events, data.sqrt_s).max().item<double>(), 1e-12) << spec.description();
    const bool dalitz_plane = spec.kind() == ModelKind::kFlow && spec.flow().prior() == FlowPriorChoice::kDalitz;
    if (dalitz_plane) {
      // Its states meet the cut by construction: nothing is dropped.
      EXPECT_GE((2.0 * min_pair_dot(r.events) / (data.sqrt_s * data.sqrt_s)).min().item<double>(), spec.cut() * (1 - 1e-12));
      EXPECT_EQ(r.cut_dropped, 0);
      EXPECT_EQ(r.cut_fraction(), 0.0);
    } else if (spec.cut() > 0) {
      EXPECT_GE((2.0 * min_pair_dot(r.events) / (data.sqrt_s * data.sqrt_s)).min().item<double>(), spec.cut());
      EXPECT_GT(r.drawn, 400) << spec.description();  // a barely trained model makes events below the cut
      EXPECT_GT(r.cut_dropped, 0) << spec.description();
      EXPECT_LE(r.drawn - r.cut_dropped, 400 + 150);  // the last batch may overshoot, by less than a batch
      EXPECT_EQ(r.cut_fraction(), static_cast<double>(r.cut_dropped) / static_cast<double>(r.drawn));
    } else {
      EXPECT_EQ(r.drawn, 400);
      EXPECT_EQ(r.cut_fraction(), 0.0);
    }
  }
}

// The antenna-chain chart on shuffled APS events (N = 6, independent pairs): the loss falls, every state of the
// sampler is an exact event, the particles come out in a random order (the anchor of the chart is
// not always last), the checkpoint keeps the chart's box, and events with distinct particles are
// refused.
TEST_F(TrainTest, ChainChartTrainsAndSamplesExactEvents) {
  TargetSpec aps;
  aps.kind = TargetKind::kAps;
  aps.particles = 6;
  aps.sqrt_s = 1.0;
  at::Generator gen = make_generator(6);
  EventSet data;
  data.momenta = EventGenerator(aps).generate(3000, gen);
  data.sqrt_s = aps.sqrt_s;
  data.pdg_ids = aps.pdg_ids();
  ModelSpec spec(ModelKind::kFlow);
  spec.network().hidden(64).layers(2).time_embedding(16);
  spec.flow().prior(FlowPriorChoice::kChain).nfe(8);
  Model m(spec, data, 1);
  // Near-uniform chart coordinates leave the flow little to learn beyond their mean field: 300
  // steps, so that the fall stands clear of the minibatch noise.
  Trainer trainer(m, options("chain.ckpt", 300).batch(256));
  std::vector<double> losses = train(trainer, data.momenta);
  ASSERT_EQ(losses.size(), 300u);
  double first = 0, last = 0;
  for (int i = 0; i < 30; ++i) first += losses[i], last += losses[270 + i];
  EXPECT_LT(last, 0.97 * first) << "first " << first / 30 << ", last " << last / 30;
  const SampleResult r = m.sample(400, SampleOptions().seed(2).batch(150).trajectory_every(1).trajectory_events(50));
  EXPECT_EQ(r.events.size(0), 400);
  EXPECT_LE(r.worst_state_violation, 1e-12);
  EXPECT_LE(conservation_violation(r.events, data.sqrt_s).max().item<double>(), 1e-12);
  // The softest particle sits at every position of the event, not at the chart's.
  const at::Tensor softest = std::get<1>(r.events.select(2, 0).min(1));
  EXPECT_EQ(std::get<0>(at::_unique(softest)).numel(), 6);
  // The checkpoint keeps the chart (its box is in the description), and its samples are exact.
  const Model loaded = Model::load((dir_ / "chain.ckpt").string());
  EXPECT_EQ(loaded.description(), m.description());
  EXPECT_LE(conservation_violation(loaded.sample(50, SampleOptions().seed(4)).events, data.sqrt_s).max().item<double>(), 1e-12);
  TargetSpec qqg;
  qqg.kind = TargetKind::kQqg;
  EventSet labelled;
  labelled.momenta = EventGenerator(qqg).generate(500, gen);
  labelled.sqrt_s = qqg.sqrt_s;
  labelled.pdg_ids = qqg.pdg_ids();
  EXPECT_ERROR_CONTAINS(Model(spec, labelled, 1), "prior = chain: expected identical particles");
}

TEST_F(TrainTest, ResumedRunRepeatsTheUninterruptedOne) {
  for (const int workers : {1, 2}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    const TrainOptions a_options = options("a.ckpt", 30).workers(workers);
    const TrainOptions b_options = options("b.ckpt", 30).workers(workers);
    Trainer straight(model(), a_options);
    std::vector<double> reference = train(straight, data_.momenta);

    Trainer first(model(), b_options);
    std::vector<double> head;
    first.run(data_.momenta, [&](const StepReport& r) { head.push_back(r.loss); }, [&] { return head.size() == 12; });
    ASSERT_EQ(first.step(), 12);
    Model resumed = model();
    Trainer second(resumed, b_options);
    second.resume();
    EXPECT_EQ(second.step(), 12);
    std::vector<double> tail = train(second, data_.momenta);
    ASSERT_EQ(tail.size(), 18u);
    ASSERT_EQ(reference.size(), 30u);
    for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(head[i], reference[i]) << "step " << i + 1;
    for (std::size_t i = 0; i < 18; ++i) EXPECT_EQ(tail[i], reference[12 + i]) << "step " << 13 + i;
    // The final checkpoints hold the same record, raw weights and EMA weights.
    const CheckpointReader a((dir_ / "a.ckpt").string()), b((dir_ / "b.ckpt").string());
    EXPECT_EQ(a.record().step, 30);
    EXPECT_EQ(b.record().step, 30);
    EXPECT_EQ(b.record().seed, 3u);
    EXPECT_EQ(b.record().train_curve, a.record().train_curve);
    EXPECT_EQ(b.record().validation_curve, a.record().validation_curve);
    QNetwork raw_a = model().network(), raw_b = model().network();
    EXPECT_FALSE(a.load_weights(*raw_a, /*ema=*/false));
    EXPECT_FALSE(b.load_weights(*raw_b, /*ema=*/false));
    std::vector<at::Tensor> ema_a, ema_b;
    ASSERT_TRUE(a.load_ema(ema_a));
    ASSERT_TRUE(b.load_ema(ema_b));
    const auto pa = raw_a->parameters(), pb = raw_b->parameters(), trained = resumed.network()->parameters();
    ASSERT_EQ(pa.size(), pb.size());
    ASSERT_EQ(ema_a.size(), pa.size());
    ASSERT_EQ(ema_b.size(), pa.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
      EXPECT_TRUE(at::equal(pa[i], pb[i])) << "parameter " << i;
      EXPECT_TRUE(at::equal(ema_a[i], ema_b[i])) << "EMA parameter " << i;
      EXPECT_TRUE(at::equal(pb[i], trained[i])) << "parameter " << i << " of the resumed model";
    }
    // The model a checkpoint loads as is the run's EMA weights at its last step.
    const Model loaded = Model::load((dir_ / "a.ckpt").string());
    ASSERT_TRUE(loaded.origin());
    EXPECT_EQ(loaded.origin()->step, 30);
    EXPECT_TRUE(loaded.origin()->ema);
    EXPECT_EQ(loaded.spec(), spec());
    const auto pl = loaded.network()->parameters();
    for (std::size_t i = 0; i < pl.size(); ++i) EXPECT_TRUE(at::equal(pl[i], ema_a[i])) << "parameter " << i;
  }
}

TEST_F(TrainTest, NanLossStopsWithTheStepAndKeepsTheLastGoodCheckpoint) {
  const TrainOptions o = options("nan.ckpt", 20).validate_every(100);
  Trainer trainer = poisoned(o, 7);
  EXPECT_EQ(trainer.step(), 7);
  expect_stop_at(test::error_of([&] { trainer.run(data_.momenta); }), 9,
                 "The last good checkpoint, '" + o.checkpoint() + "' (step 7), is kept");
  EXPECT_EQ(trainer.step(), 8);
  EXPECT_EQ(CheckpointReader(o.checkpoint()).record().step, 7);
  // A run that diverges before its first checkpoint says so (and writes none).
  const TrainOptions fresh = options("nan-fresh.ckpt", 20).validate_every(100).lr(1e30);
  Trainer diverging(model(), fresh);
  expect_stop_at(test::error_of([&] { diverging.run(data_.momenta); }), 2, "No checkpoint was written yet");
  EXPECT_FALSE(fs::exists(fresh.checkpoint()));
}

TEST_F(TrainTest, ForeignTruncatedAndMissingCheckpointsAreRefused) {
  Trainer trainer(model(), options("m.ckpt", 7));
  train(trainer, data_.momenta);
  Trainer wrong(model(64), options("m.ckpt", 7));
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
  EXPECT_ERROR_CONTAINS(CheckpointReader((dir_ / "cut.ckpt").string()), "is not a readable checkpoint (truncated or corrupt?)");
  EXPECT_ERROR_CONTAINS(Model::load((dir_ / "cut.ckpt").string()), "is not a readable checkpoint (truncated or corrupt?)");
  EXPECT_ERROR_CONTAINS(CheckpointReader((dir_ / "absent.ckpt").string()), "no such file");
  Trainer truncated(model(), options("cut.ckpt", 7));
  EXPECT_ERROR_CONTAINS(truncated.resume(), "is not a readable checkpoint (truncated or corrupt?)");
  Trainer too_big(model(), options("big.ckpt", 5).batch(4000));
  EXPECT_ERROR_CONTAINS(too_big.run(data_.momenta), "batch: expected a batch of at most the 2850 training events");
}

TEST(Device, NamesResolveAndAMissingGpuIsNamed) {
  EXPECT_TRUE(device_from_name("cpu").is_cpu());
  EXPECT_EQ(device_from_name("auto").is_cuda(), torch::cuda::is_available());
  if (!torch::cuda::is_available()) EXPECT_ERROR_CONTAINS(device_from_name("cuda"), "device = cuda: ");
  EXPECT_ERROR_CONTAINS(device_from_name("gpu"), "device: expected auto, cpu or cuda, but got 'gpu'");
}

// The clip that does not wait for the device gives LibTorch's numbers, above and below the limit.

// On a GPU (skipped without one): training reads its loss back only now and then, still stops at
// the first non-finite step, and its checkpoint resumes there and samples on the CPU.
TEST_F(TrainTest, OnAGpuARunResumesAndItsCheckpointOpensOnTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU";
  TrainOptions o = options("gpu.ckpt", 60).device(at::Device(at::kCUDA, 0)).checkpoint_every(40);
  Trainer trainer(model(), o);
  const std::vector<double> losses = train(trainer, data_.momenta);
  ASSERT_EQ(losses.size(), 60u);
  const Model c = Model::load(o.checkpoint());
  ASSERT_TRUE(c.origin());
  EXPECT_EQ(c.origin()->step, 60);
  // Not two single Hutchinson losses (their probes differ): every validation loss draws the same
  // times, noise and probes (one stream), so a fall between the first and the last is the training's.
  const auto& validation = c.origin()->validation_curve;
  ASSERT_GE(validation.size(), 2u);
  EXPECT_LT(validation.back().second, validation.front().second);
  EXPECT_TRUE(c.network()->parameters().front().device().is_cpu());
  const at::Tensor p = c.sample(64, SampleOptions().seed(2).workers(1)).events;
  ASSERT_EQ(p.size(0), 64);
  EXPECT_LE(conservation_violation(p, 1.0).max().item<double>(), 1e-12);
  o.steps(80);
  Trainer resumed(model(), o);
  resumed.resume();
  EXPECT_EQ(train(resumed, data_.momenta).size(), 20u);

  // The loss becomes NaN at step 9 (read back only at step 14, the next checkpoint's).
  const TrainOptions n = options("gpu-nan.ckpt", 20).device(o.device()).validate_every(100);
  Trainer failing = poisoned(n, 7);
  expect_stop_at(test::error_of([&] { failing.run(data_.momenta); }), 9,
                 "The last good checkpoint, '" + n.checkpoint() + "' (step 7), is kept");
  EXPECT_EQ(CheckpointReader(n.checkpoint()).record().step, 7);
}

}  // namespace
}  // namespace phasegen
