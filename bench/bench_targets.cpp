// Data-set generation in events/s on one core for every target of the paper, float64.
//
//   build/bench/bench_targets --benchmark_counters_tabular=true
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cmath>

#include "phasegen/physics/phasespace.hpp"
#include "phasegen/physics/targets.hpp"

namespace {

using phasegen::TargetKind;

void run(benchmark::State& state, phasegen::TargetSpec spec, std::int64_t events) {
  at::set_num_threads(1);
  at::Generator gen = phasegen::make_generator(1);
  phasegen::EventGenerator generator(spec);
  for (auto _ : state) {
    at::Tensor p = generator.generate(events, gen);
    benchmark::DoNotOptimize(p.data_ptr());
  }
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["acceptance"] = generator.stats().efficiency();
}

void BM_Uniform3(benchmark::State& state) {
  phasegen::TargetSpec spec;
  run(state, spec, 100000);
}

void BM_Muon(benchmark::State& state) {
  phasegen::TargetSpec spec;
  spec.kind = TargetKind::kMuon;
  run(state, spec, 100000);
}

void BM_Qqg(benchmark::State& state) {
  phasegen::TargetSpec spec;
  spec.kind = TargetKind::kQqg;
  spec.msq = std::pow(10.0, -static_cast<double>(state.range(0)));
  run(state, spec, state.range(1));
}

void BM_Aps10(benchmark::State& state) {
  phasegen::TargetSpec spec;
  spec.kind = TargetKind::kAps;
  spec.particles = 10;
  spec.xi_max = static_cast<double>(state.range(0));
  run(state, spec, 100000);
}

}  // namespace

BENCHMARK(BM_Uniform3)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Muon)->UseRealTime()->Unit(benchmark::kMillisecond);
// -log10(msq), events per call; the last is the "1M events at msq = 1e-4" run.
BENCHMARK(BM_Qqg)->ArgNames({"-log10msq", "events"})->Args({2, 100000})->Args({3, 100000})->Args({4, 100000})
    ->Args({4, 1000000})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Aps10)->ArgNames({"xi_max"})->Arg(20)->Arg(30)->Arg(40)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
