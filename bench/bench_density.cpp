// The cost of the exact density of a flow sampler's events, beside the plain sampler of the same
// model, on one core: events/s of Model::sample (float32) and Model::sample_with_density (float64
// with the full Jacobian of every step), for q-space flows at N = 3 and N = 10 (MLP 4 x 256, the
// MLP's forward-mode Jacobian, and the reverse-mode one through the invariant features) and the
// Dalitz-plane flow, Heun at 20 NFE. Untrained networks with their output layer drawn like the
// others (the cost does not depend on the training).
//
//   build/bench/bench_density --benchmark_counters_tabular=true
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "phasegen/models/model.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/physics/targets.hpp"

namespace {

using namespace phasegen;

// A model of `spec` for events like `data`, every weight drawn (the output layer too).
Model model_for(ModelSpec spec, const EventSet& data) {
  Model m(std::move(spec), data, 1);
  at::NoGradGuard no_grad;
  at::Generator gen = make_generator(2);
  for (auto& p : m.network()->parameters()) p.uniform_(-0.05, 0.05, gen);
  return m;
}

EventSet data_of(TargetSpec target, std::int64_t n) {
  at::Generator gen = make_generator(1);
  EventSet data;
  data.momenta = EventGenerator(target).generate(n, gen);
  data.sqrt_s = target.sqrt_s;
  data.pdg_ids = target.pdg_ids();
  return data;
}

ModelSpec flow(FlowPriorChoice prior, StateFeatures features = StateFeatures::kNone) {
  ModelSpec s(ModelKind::kFlow);
  s.network().hidden(256).layers(4).time_embedding(64);
  s.flow().prior(prior).solver(OdeSolver::kHeun).nfe(20);
  s.features(features);
  return s;
}

void run(benchmark::State& state, const Model& m, bool density, std::int64_t events) {
  at::set_num_threads(1);
  const SampleOptions o = SampleOptions().seed(3).batch(events).workers(1);
  for (auto _ : state) {
    if (density) {
      benchmark::DoNotOptimize(m.sample_with_density(events, o).log_ratio.data_ptr());
    } else {
      benchmark::DoNotOptimize(m.sample(events, o).events.data_ptr());
    }
  }
  state.counters["events/s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsIterationInvariantRate);
}

TargetSpec uniform(std::int64_t n) {
  TargetSpec t;
  t.particles = n;
  return t;
}

TargetSpec qqg() {
  TargetSpec t;
  t.kind = TargetKind::kQqg;
  t.msq = 1e-3;
  return t;
}

void BM_QFlowN3(benchmark::State& state) {
  static const Model m = model_for(flow(FlowPriorChoice::kRambo), data_of(uniform(3), 2000));
  run(state, m, state.range(0) != 0, 2000);
}
void BM_QFlowN10(benchmark::State& state) {
  static const Model m = model_for(flow(FlowPriorChoice::kRambo), data_of(uniform(10), 2000));
  run(state, m, state.range(0) != 0, 500);
}
void BM_QFlowN3Invariants(benchmark::State& state) {
  static const Model m = model_for(flow(FlowPriorChoice::kRambo, StateFeatures::kInvariants), data_of(uniform(3), 2000));
  run(state, m, state.range(0) != 0, 1000);
}
void BM_DalitzFlow(benchmark::State& state) {
  ModelSpec s = flow(FlowPriorChoice::kDalitz);
  s.cut(1e-3);
  static const Model m = model_for(s, data_of(qqg(), 5000));
  run(state, m, state.range(0) != 0, 5000);
}

}  // namespace

// Argument: 0 the plain sampler, 1 with the exact density.
BENCHMARK(BM_QFlowN3)->ArgName("density")->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QFlowN10)->ArgName("density")->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QFlowN3Invariants)->ArgName("density")->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DalitzFlow)->ArgName("density")->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
