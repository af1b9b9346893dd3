// Data-parallel training over processes (c10d / Gloo on 127.0.0.1). The test binary is its own
// rank program: run with --rank-of DIR it trains as the rank its environment names and exits.
#include "phasegen/training/distributed.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/serialize.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "phasegen/core/error.hpp"
#include "phasegen/core/random.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/models/model.hpp"
#include "phasegen/models/spec.hpp"
#include "phasegen/physics/targets.hpp"
#include "phasegen/training/checkpoint.hpp"
#include "phasegen/training/train.hpp"
#include "test_util.hpp"

extern char** environ;

namespace phasegen {
namespace {

namespace fs = std::filesystem;

// The run every process of the test makes: the Langevin model of test_train on muon decays, with
// EMA, validation and checkpoints. `batch` rows per process.
struct TrainingRun {
  EventSet data;
  ModelSpec spec{ModelKind::kLangevin};

  TrainingRun() {
    TargetSpec muon;
    muon.kind = TargetKind::kMuon;
    at::Generator gen = make_generator(1);
    data.momenta = EventGenerator(muon).generate(3000, gen);
    data.sqrt_s = muon.sqrt_s;
    data.pdg_ids = muon.pdg_ids();
    spec.network().hidden(32).layers(2).time_embedding(16);
    spec.langevin().divergence(DivergenceEstimate::kHutchinson);
  }

  TrainOptions options(const fs::path& checkpoint, std::int64_t batch, int workers) const {
    return TrainOptions()
        .batch(batch)
        .steps(24)
        .lr(3e-3)
        .warmup(5)
        .ema(0.9)
        .validate_every(8)
        .checkpoint_every(10)
        .checkpoint(checkpoint.string())
        .seed(7)
        .workers(workers);
  }

  // The model a run starts from: its initial weights drawn from seed `seed`.
  Model model(std::uint64_t seed) const { return Model(spec, data, seed); }

  // Trains; returns the raw (not EMA) weights at the end. Each rank starts from weights of its own
  // (seed 11 + rank): the run takes rank 0's.
  std::vector<at::Tensor> train(TrainOptions options) const {
    Model m = model(11 + static_cast<std::uint64_t>(options.processes() ? options.processes()->rank() : 0));
    Trainer trainer(m, std::move(options));
    trainer.run(data.momenta);
    std::vector<at::Tensor> weights;
    for (const auto& p : m.network()->parameters()) weights.push_back(p.detach().clone());
    return weights;
  }
};

constexpr std::int64_t kRankBatch = 64;

// A rank of the two-process run: its checkpoint path names its rank (only rank 0 may write one),
// and it leaves its final weights in DIR/weights-RANK.pt.
int run_rank(const fs::path& dir) {
  try {
    std::optional<Launch> launch = launch_from_environment();
    PHASEGEN_CHECK(launch, "no launch in the environment");
    TrainingRun run;
    TrainOptions o = run.options(dir / ("two-rank" + std::to_string(launch->rank) + ".ckpt"), kRankBatch, 1);
    o.processes(ProcessGroup::connect(*launch));
    std::vector<at::Tensor> weights = run.train(o);
    torch::save(weights, (dir / ("weights-" + std::to_string(launch->rank) + ".pt")).string());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank failed: %s\n", e.what());
    return 1;
  }
  return 0;
}

// A port that was free a moment ago.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  return ok ? ntohs(address.sin_port) : 29517;
}

// Starts this test binary as rank `rank` of `size`, with the rendezvous variables of torchrun.
pid_t spawn_rank(const fs::path& dir, int rank, int size, int port) {
  std::vector<std::string> variables;
  for (char** entry = environ; *entry; ++entry) variables.emplace_back(*entry);
  for (const std::string& v : {"RANK=" + std::to_string(rank), "WORLD_SIZE=" + std::to_string(size),
                               std::string("MASTER_ADDR=127.0.0.1"), "MASTER_PORT=" + std::to_string(port),
                               std::string("PHASEGEN_DISTRIBUTED_TIMEOUT=120")}) {
    variables.push_back(v);
  }
  std::vector<char*> envp;
  for (auto& v : variables) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string self = fs::read_symlink("/proc/self/exe").string(), flag = "--rank-of", where = dir.string();
  std::vector<char*> argv{self.data(), flag.data(), where.data(), nullptr};
  pid_t pid = 0;
  if (::posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), envp.data()) != 0) return -1;
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(Distributed, TwoProcessesTrainAsOneProcessWithTheirCombinedBatch) {
  ASSERT_TRUE(distributed_available()) << "built without Gloo";
  const fs::path dir = fs::temp_directory_path() / ("phasegen-distributed-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const int port = free_port();
  const pid_t first = spawn_rank(dir, 0, 2, port), second = spawn_rank(dir, 1, 2, port);
  ASSERT_GT(first, 0);
  ASSERT_GT(second, 0);
  // Meanwhile the one-process run: batch 2 x 64, its two worker parts the two ranks' shares.
  TrainingRun run;
  const std::vector<at::Tensor> one = run.train(run.options(dir / "one.ckpt", 2 * kRankBatch, 2));
  ASSERT_EQ(wait_for(first), 0);
  ASSERT_EQ(wait_for(second), 0);

  EXPECT_FALSE(fs::exists(dir / "two-rank1.ckpt")) << "rank 1 wrote a checkpoint";
  const CheckpointReader a_file((dir / "one.ckpt").string()), b_file((dir / "two-rank0.ckpt").string());
  const CheckpointRecord &a = a_file.record(), &b = b_file.record();
  EXPECT_EQ(a.step, 24);
  EXPECT_EQ(b.step, 24);
  // Losses and validation losses at every validation, then the weights: raw on both ranks, EMA in
  // the checkpoint.
  ASSERT_EQ(a.train_curve.size(), 3u);
  ASSERT_EQ(b.train_curve.size(), a.train_curve.size());
  for (std::size_t i = 0; i < a.train_curve.size(); ++i) {
    EXPECT_NEAR(b.train_curve[i].second, a.train_curve[i].second, 1e-6 * std::abs(a.train_curve[i].second));
    EXPECT_NEAR(b.validation_curve[i].second, a.validation_curve[i].second,
                1e-6 * std::abs(a.validation_curve[i].second));
  }
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<at::Tensor> weights;
    torch::load(weights, (dir / ("weights-" + std::to_string(rank) + ".pt")).string());
    ASSERT_EQ(weights.size(), one.size());
    double largest = 0.0;
    for (std::size_t i = 0; i < one.size(); ++i) largest = std::max(largest, test::max_abs(weights[i] - one[i]));
    EXPECT_LE(largest, 1e-6) << "rank " << rank;
  }
  const Model a_model = Model::load(a_file.path()), b_model = Model::load(b_file.path());
  ASSERT_TRUE(a_model.origin() && b_model.origin());
  EXPECT_TRUE(a_model.origin()->ema);
  EXPECT_TRUE(b_model.origin()->ema);
  const auto pa = a_model.network()->parameters(), pb = b_model.network()->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  double largest = 0.0, moved = 0.0;
  for (std::size_t i = 0; i < pa.size(); ++i) largest = std::max(largest, test::max_abs(pa[i] - pb[i]));
  // The weights did move from rank 0's start (the comparison is not of two untrained networks).
  const auto start = run.model(11).network()->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) moved = std::max(moved, test::max_abs(pa[i] - start[i]));
  EXPECT_LE(largest, 1e-6);
  EXPECT_GT(moved, 1e-3);
  fs::remove_all(dir);
}

TEST(Distributed, LaunchIsReadFromTorchrunAndSlurmVariables) {
  using Env = std::map<std::string, std::string>;
  EXPECT_FALSE(launch_from_environment(Env{}));
  EXPECT_FALSE(launch_from_environment(Env{{"WORLD_SIZE", "1"}, {"RANK", "0"}}));
  EXPECT_FALSE(launch_from_environment(Env{{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}}));

  const auto torchrun = launch_from_environment(Env{{"WORLD_SIZE", "8"},
                                                    {"RANK", "5"},
                                                    {"LOCAL_RANK", "1"},
                                                    {"LOCAL_WORLD_SIZE", "4"},
                                                    {"MASTER_ADDR", "node7"},
                                                    {"MASTER_PORT", "29400"},
                                                    {"SLURM_PROCID", "0"},
                                                    {"SLURM_NTASKS", "3"}});
  ASSERT_TRUE(torchrun);
  EXPECT_EQ(torchrun->size, 8);  // torchrun's variables win over Slurm's
  EXPECT_EQ(torchrun->rank, 5);
  EXPECT_EQ(torchrun->local_rank, 1);
  EXPECT_EQ(torchrun->local_size, 4);
  EXPECT_EQ(torchrun->address, "node7");
  EXPECT_EQ(torchrun->port, 29400);
  EXPECT_EQ(torchrun->timeout_s, 600);

  const auto slurm = launch_from_environment(Env{{"SLURM_PROCID", "3"},
                                                 {"SLURM_NTASKS", "16"},
                                                 {"SLURM_STEP_NUM_TASKS", "6"},
                                                 {"SLURM_LOCALID", "1"},
                                                 {"SLURM_STEP_TASKS_PER_NODE", "2(x3)"},
                                                 {"MASTER_ADDR", "10.0.0.1"},
                                                 {"PHASEGEN_DISTRIBUTED_TIMEOUT", "30"}});
  ASSERT_TRUE(slurm);
  EXPECT_EQ(slurm->size, 6);  // the step's tasks, not the allocation's
  EXPECT_EQ(slurm->rank, 3);
  EXPECT_EQ(slurm->local_rank, 1);
  EXPECT_EQ(slurm->local_size, 2);
  EXPECT_EQ(slurm->port, kDefaultMasterPort);
  EXPECT_EQ(slurm->timeout_s, 30);

  const Env good{{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"}};
  auto with = [&](const std::string& key, const std::string& value) {
    Env e = good;
    if (value.empty()) e.erase(key);
    else e[key] = value;
    return e;
  };
  EXPECT_ERROR_CONTAINS(launch_from_environment(with("RANK", "")), "RANK");
  EXPECT_ERROR_CONTAINS(launch_from_environment(with("RANK", "2")), "expected a rank below the process count 2");
  EXPECT_ERROR_CONTAINS(launch_from_environment(with("RANK", "1x")), "environment variable RANK");
  EXPECT_ERROR_CONTAINS(launch_from_environment(with("WORLD_SIZE", "0")), "environment variable WORLD_SIZE");
  EXPECT_ERROR_CONTAINS(launch_from_environment(with("MASTER_ADDR", "")), "MASTER_ADDR");
  EXPECT_ERROR_CONTAINS(launch_from_environment(with("MASTER_PORT", "70000")), "MASTER_PORT");
  EXPECT_ERROR_CONTAINS(launch_from_environment(with("PHASEGEN_DISTRIBUTED_TIMEOUT", "-1")),
                        "PHASEGEN_DISTRIBUTED_TIMEOUT");
}

TEST(Distributed, ARankAloneStopsAtTheTimeoutNamingTheRendezvous) {
  Launch launch;
  launch.rank = 1;
  launch.size = 2;
  launch.address = "127.0.0.1";
  launch.port = free_port();
  launch.source = "test";
  launch.timeout_s = 1;
  EXPECT_ERROR_CONTAINS(ProcessGroup::connect(launch),
                        "rank 1 of 2: the processes did not all meet at 127.0.0.1:" + std::to_string(launch.port));
}

TEST(Distributed, RankZeroOnAPortInUseSaysSoAtOnce) {
  // A listening socket holds the port.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  Launch launch;
  launch.size = 2;
  launch.address = "127.0.0.1";
  launch.port = ntohs(address.sin_port);
  launch.source = "test";
  launch.timeout_s = 30;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_ERROR_CONTAINS(ProcessGroup::connect(launch), "rank 0 of 2: cannot serve the rendezvous on port " +
                                                           std::to_string(launch.port) +
                                                           " (in use: choose another MASTER_PORT)");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ::close(fd);
}

}  // namespace
}  // namespace phasegen

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--rank-of") == 0) return phasegen::run_rank(argv[2]);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
