#include "phasegen/models/chain.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "phasegen/core/random.hpp"
#include "phasegen/eval/stats.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/physics/targets.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

// APS events of the generator, shuffled as the paper's sets are.
at::Tensor aps_events(std::int64_t n, std::int64_t particles, double xi_max, at::Generator& gen) {
  TargetSpec aps;
  aps.kind = TargetKind::kAps;
  aps.particles = particles;
  aps.xi_max = xi_max;
  aps.sqrt_s = 1.0;
  return EventGenerator(aps).generate(n, gen);
}

// The largest |ln a|, |ln b| of events read in the order given (their chain's cost).
at::Tensor order_cost(const at::Tensor& ordered) {
  at::Generator gen = make_generator(9);
  const std::int64_t n = ordered.size(1);
  return ChainSpace::chart(ordered, gen).narrow(1, 5, 2 * (n - 2)).abs().amax(1);
}

// Read in the generator's own order (chain, then anchor), an APS event's chart holds the
// generator's antenna variables, decodes back to the event, and any coordinates at all decode to
// an exact event.
TEST(ChainChart, TheGeneratorsOrderGivesItsAntennaVariablesAndDecodesBack) {
  at::Generator gen = make_generator(1);
  const std::int64_t n = 7;
  const at::Tensor chain = aps_chain(3000, n, 30.0, gen);
  const at::Tensor p = rambo_map(chain.narrow(2, 1, 3), 1.0);
  const at::Tensor x = ChainSpace::chart(p, gen);
  ASSERT_EQ(x.sizes(), (at::IntArrayRef{3000, ChainSpace::dimension(n)}));
  for (std::int64_t i = 1; i <= n - 2; ++i) {
    const at::Tensor xi = antenna_variables(chain.select(1, i - 1), chain.select(1, n - 1), chain.select(1, i));
    EXPECT_LE(test::max_abs(x.select(1, 5 + i - 1) - at::log(xi.select(1, 1))), 1e-8) << "ln a of emission " << i;
    EXPECT_LE(test::max_abs(x.select(1, 5 + n - 2 + i - 1) - at::log(xi.select(1, 0))), 1e-8) << "ln b of emission " << i;
  }
  EXPECT_LE(order_cost(p).max().item<double>(), std::log(30.0) + 1e-9);
  // The chart is read in the rest frame of the pair (1, N), which for the longest chains is boosted
  // far from the event's CM frame: the round trip passes that boost twice and keeps about 1e-7 of
  // sqrt_s in the momenta (the events themselves stay exact, see below).
  const at::Tensor back = ChainSpace::event(x, n, 1.0);
  EXPECT_LE(test::max_abs(back - p), 2e-6);
  const at::Tensor s = pair_invariant_matrix(p), s_back = pair_invariant_matrix(back);
  const at::Tensor off = 1.0 - at::eye(n, s.options());
  EXPECT_LE(test::max_abs((s_back - s) / (s + at::eye(n, s.options())) * off), 1e-4);
  // The invariants match the plain ones where those have no cancellation.
  EXPECT_LE(test::max_abs(s - 2.0 * at::matmul(p * at::tensor({1.0, -1.0, -1.0, -1.0}, p.options()), p.transpose(1, 2)) * off), 1e-12);
  // Any real coordinates: exact massless events in the CM frame.
  const at::Tensor noise = at::randn({4000, ChainSpace::dimension(n)}, gen, at::TensorOptions().dtype(at::kDouble)) * 3.0;
  const at::Tensor events = ChainSpace::event(noise, n, 91.2);
  EXPECT_TRUE(at::isfinite(events).all().item<bool>());
  EXPECT_LE(conservation_violation(events, 91.2).max().item<double>(), 1e-13);
  EXPECT_LE(mass_violation(events, 91.2).max().item<double>(), 1e-13);
  EXPECT_ERROR_CONTAINS(ChainSpace::event(noise.narrow(1, 0, 20), n, 1.0), "expected coordinates [b, 23]");
  EXPECT_ERROR_CONTAINS(ChainSpace::chart(p.narrow(1, 0, 2), gen), "N >= 3");
}

// The minimax order is the best of all N! orders (checked by brute force at N = 6) and, for APS
// events, inside the generator's box.
TEST(ChainOrder, MinimaxIsTheBestOfAllOrders) {
  at::Generator gen = make_generator(2);
  const std::int64_t n = 6;
  const at::Tensor p = aps_events(60, n, 30.0, gen);
  const ChainOrders best = minimax_chain_orders(p);
  EXPECT_LE(test::max_abs(order_cost(in_order(p, best.order)) - best.cost), 1e-12);
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  at::Tensor lowest = at::full({60}, std::numeric_limits<double>::infinity(), at::kDouble);
  do {
    const at::Tensor order = at::tensor(perm, at::kLong).unsqueeze(0).expand({60, n});
    lowest = at::minimum(lowest, order_cost(in_order(p, order)));
  } while (std::next_permutation(perm.begin(), perm.end()));
  EXPECT_LE(test::max_abs(lowest - best.cost), 1e-12);
  EXPECT_LE(best.cost.max().item<double>(), std::log(30.0) + 1e-9);
  EXPECT_LE(chain_box(p), std::log(30.0) + 1e-9);
}

// Drawn with the generator's box, the history of shuffled APS events is the generator's posterior:
// every ln a, ln b uniform on [-ln xi_max, ln xi_max] and every azimuth uniform, as the generator drew
// them. The draw repeats for a seed, whatever the thread count.
TEST(ChainHistory, IsTheGeneratorsPosteriorOnApsEvents) {
  at::Generator gen = make_generator(3);
  const std::int64_t n = 8;
  const double box = std::log(30.0);
  const at::Tensor p = aps_events(4000, n, 30.0, gen);
  at::Generator draw = make_generator(4);
  const at::Tensor order = chain_history(p, box, draw);
  const at::Tensor ordered = in_order(p, order);
  // The same particles, each once.
  EXPECT_TRUE(at::equal(std::get<0>(at::sort(order, 1)), at::arange(n, at::kLong).unsqueeze(0).expand({4000, n})));
  const at::Tensor x = ChainSpace::chart(ordered, gen);
  for (std::int64_t k = 0; k < 2 * (n - 2); ++k) {
    const at::Tensor u = (x.select(1, 5 + k) + box) / (2.0 * box);
    EXPECT_GT(ks_test(u, [](const at::Tensor& t) { return t; }).p_value, 1e-3) << "log coordinate " << k;
  }
  for (std::int64_t k = 0; k < n - 2; ++k) {
    const at::Tensor v = k == 0 ? x.narrow(1, 3, 2) : x.narrow(1, 5 + 2 * (n - 2) + 2 * (k - 1), 2);
    const at::Tensor u = (at::atan2(v.select(1, 1), v.select(1, 0)) + M_PI) / (2.0 * M_PI);
    EXPECT_GT(ks_test(u, [](const at::Tensor& t) { return t; }).p_value, 1e-3) << "azimuth " << k;
  }
  // The minimax order is not that posterior: its coordinates crowd the middle of the box.
  const at::Tensor y = ChainSpace::chart(in_order(p, minimax_chain_orders(p).order), gen);
  EXPECT_LT(ks_test((y.select(1, 5) + box) / (2.0 * box), [](const at::Tensor& t) { return t; }).p_value, 1e-6);
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  at::Generator again = make_generator(4);
  EXPECT_TRUE(at::equal(chain_history(p, box, again), order));
  at::set_num_threads(threads);
  // An event with no order in the box gets its minimax order.
  at::Generator tight = make_generator(4);
  const at::Tensor fallback = chain_history(p.narrow(0, 0, 50), 1e-3, tight);
  EXPECT_TRUE(at::equal(fallback, minimax_chain_orders(p.narrow(0, 0, 50)).order));
  EXPECT_ERROR_CONTAINS(chain_history(p, -1.0, draw), "expected a box > 0");
  EXPECT_ERROR_CONTAINS(chain_history(at::zeros({2, 13, 4}, at::kDouble), box, draw), "expected N <= 12");
}

// The standardised state: float32, mean 0 and unit variance over the data, back to the events to
// float32 precision; any state decodes to an exact event inside the box.
TEST(ChainSpace, StatesDecodeToExactEventsInsideTheBoxAndBackToTheData) {
  at::Generator gen = make_generator(5);
  const std::int64_t n = 6, d = ChainSpace::dimension(n);
  const at::Tensor p = aps_events(5000, n, 20.0, gen);
  const double box = chain_box(p);
  const at::Tensor ordered = in_order(p, chain_history(p, box, gen));
  const ChainSpace space(n, 1.0, box, ChainSpace::fit(ordered, box, gen));
  const at::Tensor s = space.encode(ordered, gen);
  EXPECT_EQ(s.sizes(), (at::IntArrayRef{5000, 1, d}));
  EXPECT_EQ(s.scalar_type(), at::kFloat);
  // Fresh radii in each encoding: standardised to within the sampling error.
  EXPECT_LE(test::max_abs(s.mean(0)), 0.1);
  EXPECT_LE(test::max_abs(s.to(at::kDouble).std(0) - 1.0), 0.1);
  const at::Tensor back = space.decode(s);
  const at::Tensor v = pair_invariant_matrix(ordered), v_back = pair_invariant_matrix(back);
  const at::Tensor eye = at::eye(n, v.options());
  EXPECT_LE(test::max_abs((v_back - v) / (v + eye)), 1e-4);
  const at::Tensor noise = at::randn({3000, 1, d}, gen, at::TensorOptions().dtype(at::kDouble)) * 4.0;
  const at::Tensor events = space.decode(noise);
  EXPECT_LE(conservation_violation(events, 1.0).max().item<double>(), 1e-13);
  EXPECT_LE(mass_violation(events, 1.0).max().item<double>(), 1e-13);
  EXPECT_LE(order_cost(events).max().item<double>(), box * (1.0 + 1e-9));
  EXPECT_ERROR_CONTAINS(space.decode(noise.narrow(2, 0, 5)), "expected states [b, 1, 19]");
  EXPECT_ERROR_CONTAINS(space.encode(p.narrow(1, 0, 5), gen), "expected events of N = 6");
  EXPECT_ERROR_CONTAINS(ChainSpace(n, 1.0, 0.0, space.standardisation()), "expected a box > 0");
}

}  // namespace
}  // namespace phasegen
