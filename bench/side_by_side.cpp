// phasegen's half of the side-by-side benchmark (bench/side-by-side.sh runs it beside
// bench/reference.py, which does the same work in Python with PyTorch): one kind of work, timed
// after a warm-up, printed as one line "WORK RATE UNIT".
//
//   build/bench/bench_side_by_side train-exact [--repeats 20] [--threads 1] [--batch 1024] [--particles N] [--workers W]
//
// Work (the paper's settings; the states a step trains on are drawn once, as a cache would hold them):
//   train-exact           Langevin model, MLP 4 x 256, batch 1024, implicit score matching, exact divergence
//                         (phasegen: one batched pass through the MLP)
//   train-exact-autograd  the same by 3N backward passes (autograd's way, what the reference does)
//   train-transformer     Langevin model, transformer d = 128, 4 blocks, 4 heads, N = 10, batch 1024,
//                         Hutchinson's divergence
//   train-vp              z-space VP diffusion, MLP 4 x 256, batch 1024, epsilon prediction
//   sample-langevin       muon events (N = 3) by the Langevin model's 500 reverse steps
//   sample-flow           muon events by q-space flow matching, Heun, 50 NFE
// Each step is AdamW (lr 1e-3, weight decay 1e-4) after a gradient-norm clip at 1. Sampling draws
// --events events (default 100000) in batches of 10000 and maps them to phase space. --workers W (default
// 0: one per CPU, as phasegen train and sample) splits each minibatch or batch over W threads, one
// core and single-threaded OpenBLAS each (phasegen's loss_and_gradients and run_in_parts).
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/optim/adamw.h>

#include <dlfcn.h>

#include <chrono>
#include <thread>
#include <vector>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>

#include "phasegen/core/runtime.hpp"
#include "phasegen/models/diffusion.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/models/families.hpp"
#include "phasegen/core/parallel.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/training/train.hpp"
#include "phasegen/training/workers.hpp"
#include "phasegen/models/vp.hpp"

namespace {

using namespace phasegen;
using Clock = std::chrono::steady_clock;

// Settings of the run (flags): minibatch, particles (0: the work's own, 3 or 10).
std::int64_t kBatch = 1024;
std::int64_t kParticles = 0;

// A network with every weight drawn (the output layer too, which training would move off zero).
std::shared_ptr<QNetworkImpl> network(const NetworkOptions& options) {
  auto net = make_network(options, 1).ptr();
  at::NoGradGuard no_grad;
  at::Generator gen = make_generator(2);
  for (auto& p : net->parameters()) p.copy_(at::randn(p.sizes(), gen, p.options()) * 0.05);
  return net;
}

std::int64_t kWorkers = 0;  // --workers (0: one per CPU, phasegen's default)

std::int64_t particles_or(std::int64_t fallback) { return kParticles > 0 ? kParticles : fallback; }

NetworkOptions paper_mlp() {
  return NetworkOptions().particles(particles_or(3)).hidden(256).layers(4).time_embedding(64);
}

// Runs `step` once to warm up, then `repeats` times; returns the rate per second.
double rate(std::int64_t repeats, const std::function<void()>& step) {
  step();
  const auto start = Clock::now();
  for (std::int64_t i = 0; i < repeats; ++i) step();
  return static_cast<double>(repeats) / std::chrono::duration<double>(Clock::now() - start).count();
}

// Training steps/s of a loss over the rows of a fixed minibatch (the loss gets the row indices; with
// --workers W they are split over W threads, as phasegen train does).
double train_rate(QNetworkImpl& net, std::int64_t repeats, const LossFunction& loss_of) {
  torch::optim::AdamW optimizer(net.parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(1e-4));
  const at::Tensor rows = at::arange(kBatch, at::kLong);
  const int workers = resolve_workers(static_cast<int>(kWorkers), kBatch);
  at::Generator gen = make_generator(3);
  std::uint64_t step = 0;
  return rate(repeats, [&] {
    optimizer.zero_grad();
    loss_and_gradients(net.parameters(), loss_of, rows, gen, workers, 1, [&](int part) {
      return make_generator(stream_seed(3, Stream::kTrainStepPart, step * static_cast<std::uint64_t>(workers) + static_cast<std::uint64_t>(part)));
    });
    ++step;
    clip_gradients(net.parameters(), 1.0);
    optimizer.step();
  });
}

// The Langevin model's loss at given states and steps (the paper's weighting).
at::Tensor langevin_loss(const LangevinDiffusion& diffusion, QNetworkImpl& net, const at::Tensor& q,
                         const at::Tensor& t, at::Generator& gen) {
  auto [s, div] = diffusion.score_and_divergence(net, q, t, gen);
  const at::Tensor w = 1.0 - t.to(at::kFloat) / 500.0 + 0.01;
  return (w * (0.5 * s.pow(2).flatten(1).sum(1) + div)).mean();
}

// The generic network interface around an MLP: the diffusion then takes autograd's divergence.
class Opaque : public QNetworkImpl {
 public:
  explicit Opaque(std::shared_ptr<QNetworkImpl> inner) : inner_(register_module("inner", std::move(inner))) {}
  at::Tensor forward(const at::Tensor& q, const at::Tensor& t) override { return inner_->forward(q, t); }
  std::string description() const override { return inner_->description(); }
  void reset_parameters(at::Generator& gen) override { inner_->reset_parameters(gen); }

 private:
  std::shared_ptr<QNetworkImpl> inner_;
};

double train_langevin(std::shared_ptr<QNetworkImpl> net, std::int64_t particles, const std::string& divergence,
                      std::int64_t repeats) {
  DiffusionOptions o;
  o.divergence(kDivergenceEstimateNames.parse(divergence));
  LangevinDiffusion diffusion(o);
  at::Generator gen = make_generator(3);
  const at::Tensor q = sample_rambo_prior(kBatch, particles, gen, at::kFloat);
  const at::Tensor t = at::randint(1, 501, {kBatch}, gen, at::kLong);
  return train_rate(*net, repeats, [&](const at::Tensor& rows, at::Generator& g) {
    return langevin_loss(diffusion, *net, q.index_select(0, rows), t.index_select(0, rows), g);
  });
}

double train_vp(std::int64_t repeats) {
  auto net = network(paper_mlp());
  VpDiffusion vp{VpOptions{}};
  at::Generator gen = make_generator(3);
  const at::Tensor z = at::randn({kBatch, particles_or(3), 3}, gen, at::kFloat);
  return train_rate(*net, repeats, [&](const at::Tensor& rows, at::Generator& g) {
    return vp.loss(*net, z.index_select(0, rows), g);
  });
}

double sample(const ModelFamily& model, std::int64_t events, std::int64_t repeats) {
  auto net = network(paper_mlp());
  const std::int64_t batch = std::min<std::int64_t>(events, 10000);
  std::uint64_t batch_index = 0;
  const int workers = resolve_workers(static_cast<int>(kWorkers), batch);
  // As phasegen sample does: each batch split over the workers, a random stream per part.
  return rate(repeats, [&] {
           for (std::int64_t done = 0; done < events; done += batch) {
             const std::int64_t n = std::min(batch, events - done);
             const auto b = batch_index++;
             run_in_parts(n, workers, [&](int part, std::int64_t, std::int64_t count) {
               at::NoGradGuard no_grad;
               at::Generator gen = make_generator(stream_seed(4, Stream::kSamplePart, b * static_cast<std::uint64_t>(workers) + static_cast<std::uint64_t>(part)));
               model.sample(*net, count, particles_or(3), gen);
             });
           }
         }) *
         static_cast<double>(events);
}

int run(int argc, char** argv) {
  PHASEGEN_CHECK(argc >= 2,
                 "usage: bench_side_by_side WORK [--repeats K] [--events E] [--threads T] [--batch B] [--particles N]");
  const std::string work = argv[1];
  std::int64_t repeats = 0, events = 100000;
  int threads = 1;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::int64_t value = std::atoll(argv[i + 1]);
    if (flag == "--repeats") repeats = value;
    else if (flag == "--events") events = value;
    else if (flag == "--threads") threads = static_cast<int>(value);
    else if (flag == "--batch") kBatch = value;
    else if (flag == "--particles") kParticles = value;
    else if (flag == "--workers") kWorkers = value;
    else throw Error("unknown option '" + flag + "'");
  }
  if (threads > 0) at::set_num_threads(threads);  // 0: LibTorch's default (one per CPU)
  double r = 0;
  std::string unit = "steps/s";
  if (work == "train-exact") {
    r = train_langevin(network(paper_mlp()), particles_or(3), "exact", repeats > 0 ? repeats : 20);
  } else if (work == "train-exact-autograd") {
    r = train_langevin(std::make_shared<Opaque>(network(paper_mlp())), particles_or(3), "exact",
                       repeats > 0 ? repeats : 10);
  } else if (work == "train-transformer") {
    const auto transformer = NetworkOptions().kind(NetworkKind::kTransformer).particles(particles_or(10)).model_dim(128).blocks(4).heads(4);
    r = train_langevin(network(transformer), particles_or(10), "hutchinson", repeats > 0 ? repeats : 5);
  } else if (work == "train-vp") {
    r = train_vp(repeats > 0 ? repeats : 50);
  } else if (work == "sample-langevin") {
    r = sample(LangevinFamily(DiffusionOptions{}, LiftOptions::random(), 1.0), events, repeats > 0 ? repeats : 1);
    unit = "events/s";
  } else if (work == "sample-flow") {
    r = sample(FlowFamily(FlowMatching(FlowPrior::kRambo, OdeSolver::kHeun, 50),
                         StateSpace::q_space(LiftOptions::random(), 1.0)),
               events, repeats > 0 ? repeats : 1);
    unit = "events/s";
  } else {
    throw Error("unknown work '" + work + "'");
  }
  std::cout << work << ' ' << r << ' ' << unit << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // As the phasegen tool does (docs/PERFORMANCE.md); PHASEGEN_PLAIN_RUNTIME=1 keeps glibc's and LibTorch's defaults.
  if (std::getenv("PHASEGEN_PLAIN_RUNTIME") == nullptr) phasegen::configure_cpu_runtime();
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "bench_side_by_side: " << e.what() << '\n';
    return 2;
  }
}
