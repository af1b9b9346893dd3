// Uniform phase-space generation in events/s on one core, float64, beside a hand-written scalar
// RAMBO loop (the reference level the batched tensor code is held to).
//
//   build/bench/bench_phasespace --benchmark_counters_tabular=true
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "phasegen/physics/phasespace.hpp"

namespace {

constexpr double kPi = 3.14159265358979323846;

void BM_UniformPhaseSpace(benchmark::State& state) {
  at::set_num_threads(1);
  const std::int64_t particles = state.range(0);
  const std::int64_t batch = state.range(1);
  at::Generator gen = phasegen::make_generator(1);
  for (auto _ : state) {
    at::Tensor p = phasegen::sample_uniform_phase_space(batch, particles, 1.0, gen);
    benchmark::DoNotOptimize(p.data_ptr());
  }
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

// The classic RAMBO algorithm as one scalar loop per event (massless, CM frame), for reference.
void BM_ScalarRamboReference(benchmark::State& state) {
  const int particles = static_cast<int>(state.range(0));
  const std::int64_t batch = state.range(1);
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> q(4 * particles), out(4 * particles * batch);
  for (auto _ : state) {
    for (std::int64_t k = 0; k < batch; ++k) {
      double Q[4] = {0, 0, 0, 0};
      for (int i = 0; i < particles; ++i) {
        const double c = 2 * uniform(rng) - 1, s = std::sqrt(1 - c * c), f = 2 * kPi * uniform(rng);
        const double e = -std::log(uniform(rng) * uniform(rng));
        q[4 * i] = e;
        q[4 * i + 1] = e * s * std::cos(f);
        q[4 * i + 2] = e * s * std::sin(f);
        q[4 * i + 3] = e * c;
        for (int m = 0; m < 4; ++m) Q[m] += q[4 * i + m];
      }
      const double M = std::sqrt(Q[0] * Q[0] - Q[1] * Q[1] - Q[2] * Q[2] - Q[3] * Q[3]);
      const double b[3] = {-Q[1] / M, -Q[2] / M, -Q[3] / M};
      const double g = Q[0] / M, a = 1 / (1 + g), x = 1.0 / M;
      double* p = out.data() + 4 * particles * k;
      for (int i = 0; i < particles; ++i) {
        const double* v = &q[4 * i];
        const double bq = b[0] * v[1] + b[1] * v[2] + b[2] * v[3];
        p[4 * i] = x * (g * v[0] + bq);
        for (int m = 0; m < 3; ++m) p[4 * i + 1 + m] = x * (v[1 + m] + b[m] * v[0] + a * bq * b[m]);
      }
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

// The RAMBO map alone on states drawn once (the C++ side of bench/python-overhead.sh).
void BM_RamboMap(benchmark::State& state) {
  at::set_num_threads(1);
  const std::int64_t particles = state.range(0);
  const std::int64_t batch = state.range(1);
  at::Generator gen = phasegen::make_generator(1);
  const at::Tensor q = phasegen::sample_rambo_prior(batch, particles, gen);
  for (auto _ : state) {
    at::Tensor p = phasegen::rambo_map(q, 1.0);
    benchmark::DoNotOptimize(p.data_ptr());
  }
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_UniformPhaseSpace)->ArgNames({"N", "batch"})->ArgsProduct({{3, 10, 100}, {65536}})->UseRealTime();
BENCHMARK(BM_RamboMap)->ArgNames({"N", "batch"})->ArgsProduct({{3, 10}, {1000000}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScalarRamboReference)->ArgNames({"N", "batch"})->ArgsProduct({{3, 10, 100}, {65536}})->UseRealTime();

namespace {

// Prints the usual table, then phasegen's rate over the scalar reference for each N.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      const std::string name = run.benchmark_name();
      if (name.find("RamboMap") != std::string::npos) continue;  // the map alone: not in the ratio table
      const auto n_at = name.find("N:");
      const std::string n = name.substr(n_at + 2, name.find('/', n_at) - n_at - 2);
      const double rate = run.counters.at("events/s");
      (name.find("Scalar") != std::string::npos ? reference_ : phasegen_)[std::stoi(n)] = rate;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%5s %18s %18s %8s\n", "N", "phasegen ev/s", "scalar ref ev/s", "ratio");
    for (const auto& [n, rate] : phasegen_) {
      const double ref = reference_.count(n) ? reference_[n] : 0.0;
      std::printf("%5d %18.4g %18.4g %8.2f\n", n, rate, ref, ref > 0 ? rate / ref : 0.0);
    }
  }

 private:
  std::map<int, double> phasegen_, reference_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
