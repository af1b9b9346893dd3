#include "phasegen/physics/targets.hpp"

#include <cmath>
#include <iostream>
#include <vector>

#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/eval/stats.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

using test::max_abs;

constexpr double kPi = 3.14159265358979323846;
constexpr double kPValue = 1e-3;  // fixed seeds; a correct sampler fails a test 1 time in 1000

TargetSpec spec_of(TargetKind kind) {
  TargetSpec spec;
  spec.kind = kind;
  return spec;
}

// chi2 of observed counts against expected counts over the bins with expected > 0, and its
// p-value with (bins - 1) degrees of freedom. Bins with expected 0 must be empty.
double chi2_p_value(const at::Tensor& observed, const at::Tensor& expected) {
  at::Tensor inside = expected > 0;
  EXPECT_EQ(observed.masked_select(inside.logical_not()).sum().item<double>(), 0.0) << "events outside the support";
  at::Tensor o = observed.masked_select(inside), e = expected.masked_select(inside);
  const double chi2 = ((o - e).pow(2) / e).sum().item<double>();
  const double ndf = static_cast<double>(o.numel() - 1);
  return at::special_gammaincc(at::full({1}, ndf / 2, at::kDouble), at::full({1}, chi2 / 2, at::kDouble)).item<double>();
}

TEST(MuonTarget, RosenblattVariablesAreUniformAndIndependent) {
  at::Generator gen = make_generator(2024);
  EventGenerator muon(spec_of(TargetKind::kMuon));
  const std::int64_t n = 200000;
  at::Tensor p = muon.generate(n, gen);
  ASSERT_EQ(p.sizes(), (at::IntArrayRef{n, 3, 4}));
  EXPECT_LE(conservation_violation(p, 1.0).max().item<double>(), 1e-12);
  at::Tensor u = muon_rosenblatt(p, 1.0);
  auto identity = [](const at::Tensor& x) { return x; };
  const KsResult ks1 = ks_test(u.select(1, 0), identity), ks2 = ks_test(u.select(1, 1), identity);
  std::cout << "muon, 200k events: u1 KS D = " << ks1.statistic << " p = " << ks1.p_value
            << "; u2 KS D = " << ks2.statistic << " p = " << ks2.p_value << '\n';
  EXPECT_GT(ks1.p_value, kPValue);
  EXPECT_GT(ks2.p_value, kPValue);
  // Independence: the joint 10 x 10 histogram is flat.
  at::Tensor cell = (u * 10).floor().clamp(0, 9).to(at::kLong);
  at::Tensor counts = at::bincount(cell.select(1, 0) * 10 + cell.select(1, 1), {}, 100).to(at::kDouble);
  const double joint_p = chi2_p_value(counts, at::full({100}, n / 100.0, at::kDouble));
  EXPECT_GT(joint_p, kPValue);
  at::Tensor c = u - u.mean(0);
  const double rho = ((c.select(1, 0) * c.select(1, 1)).mean() / (c.std(0).prod())).item<double>();
  std::cout << "muon: (u1, u2) 10x10 chi2 p = " << joint_p << ", correlation = " << rho << '\n';
  EXPECT_LT(std::abs(rho), 4.0 / std::sqrt(static_cast<double>(n)));
  // The same test rejects flat phase space: it has the power to fail.
  at::Tensor flat = sample_uniform_phase_space(n, 3, 1.0, gen);
  EXPECT_LT(ks_test(muon_rosenblatt(flat, 1.0).select(1, 0), identity).p_value, 1e-6);
  EXPECT_NEAR(muon.stats().efficiency(), 2.0 / 3.0, 0.01);
}

TEST(MuonTarget, IntegralOfTheWeightMatchesTheExactValue) {
  for (double sqrt_s : {1.0, 2.0}) {
    at::Generator gen = make_generator(7);
    TargetSpec spec = spec_of(TargetKind::kMuon);
    spec.sqrt_s = sqrt_s;
    EventGenerator muon(spec);
    at::Tensor p = muon.generate(50000, gen);
    EXPECT_NEAR(energies(p).sum(1).mean().item<double>(), sqrt_s, 1e-12);
    // Phi_3 E_flat[E3 (p1.p2)] = (pi^2 s / 8) (s^(3/2) / 16) (2/3).
    const double exact = kPi * kPi / 192.0 * std::pow(sqrt_s, 5);
    const auto& stats = muon.stats();
    std::cout << "muon integral at sqrt_s = " << sqrt_s << ": " << stats.integral() << " +- "
              << stats.integral_error() << " vs exact " << exact << '\n';
    EXPECT_NEAR(stats.integral(), exact, 4 * stats.integral_error()) << "sqrt_s = " << sqrt_s;
    EXPECT_LT(stats.integral_error(), 0.01 * exact);
  }
}

// int over [lo, hi] of ((1 - y1)^2 + (1 - y2)^2) / (y1 y2) dy2, in closed form.
double inner_qqg(double y1, double lo, double hi) {
  if (hi <= lo) return 0.0;
  const double log_ratio = std::log(hi / lo);
  return ((1 - y1) * (1 - y1) * log_ratio + log_ratio - 2 * (hi - lo) + (hi * hi - lo * lo) / 2) / y1;
}

// int over the cut region inside [a1, b1] x [a2, b2] of the qqg density in (y1, y2), by Simpson
// in log y1 of the closed-form inner integral.
double qqg_cell(double m, double a1, double b1, double a2, double b2) {
  const int steps = 4000;
  const double t0 = std::log(a1), t1 = std::log(b1), h = (t1 - t0) / steps;
  double sum = 0.0;
  for (int k = 0; k <= steps; ++k) {
    const double y1 = std::exp(t0 + k * h);
    const double weight = (k == 0 || k == steps) ? 1.0 : (k % 2 ? 4.0 : 2.0);
    sum += weight * y1 * inner_qqg(y1, a2, std::min(b2, 1 - m - y1));
  }
  return sum * h / 3.0;
}

TEST(QqgTarget, DalitzHistogramMatchesTheAnalyticDensity) {
  const double m = 1e-2;
  TargetSpec spec = spec_of(TargetKind::kQqg);
  spec.msq = m;
  at::Generator gen = make_generator(99);
  EventGenerator qqg(spec);
  const std::int64_t n = 200000;
  at::Tensor p = qqg.generate(n, gen);
  at::Tensor y = 1.0 - energies(p).narrow(1, 0, 2) * 2.0;  // y1 = 1 - x1, y2 = 1 - x2
  const int bins = 12;
  const double lm = std::log(m);
  at::Tensor cell = ((y.log() - lm) / (-lm) * bins).floor().clamp(0, bins - 1).to(at::kLong);
  at::Tensor observed =
      at::bincount(cell.select(1, 0) * bins + cell.select(1, 1), {}, bins * bins).to(at::kDouble);
  std::vector<double> expected(bins * bins);
  double total = 0.0;
  for (int i = 0; i < bins; ++i) {
    for (int j = 0; j < bins; ++j) {
      const double e = qqg_cell(m, std::exp(lm * (1 - double(i) / bins)), std::exp(lm * (1 - double(i + 1) / bins)),
                                std::exp(lm * (1 - double(j) / bins)), std::exp(lm * (1 - double(j + 1) / bins)));
      expected[i * bins + j] = e;
      total += e;
    }
  }
  at::Tensor expected_counts = at::tensor(expected, at::kDouble) * (n / total);
  const double dalitz_p = chi2_p_value(observed, expected_counts);
  std::cout << "qqg msq 1e-2, 200k events: 12x12 (log y1, log y2) chi2 p = " << dalitz_p
            << "; integral " << qqg.stats().integral() << " +- " << qqg.stats().integral_error()
            << " vs quadrature " << kPi * kPi / 4.0 * total << '\n';
  EXPECT_GT(dalitz_p, kPValue);
  // The MC integral agrees with the quadrature: (pi^2 s / 4) times the density's integral.
  const double exact = kPi * kPi / 4.0 * total;
  EXPECT_NEAR(qqg.stats().integral(), exact, 4 * qqg.stats().integral_error());
  // The same test rejects a wrong density: qqg events with the gluon and quark swapped.
  at::Tensor y_swapped = 1.0 - at::stack({energies(p).select(1, 2), energies(p).select(1, 1)}, 1) * 2.0;
  at::Tensor swapped = ((y_swapped.log() - lm) / (-lm) * bins).floor().clamp(0, bins - 1).to(at::kLong);
  at::Tensor wrong =
      at::bincount(swapped.select(1, 0) * bins + swapped.select(1, 1), {}, bins * bins).to(at::kDouble);
  EXPECT_LT(chi2_p_value(wrong, expected_counts + (expected_counts == 0).to(at::kDouble) * 1e-9), 1e-6);
}

TEST(QqgTarget, EveryPairInvariantPassesTheCutAndEventsAreExact) {
  for (double m : {1e-2, 1e-3, 1e-4}) {
    TargetSpec spec = spec_of(TargetKind::kQqg);
    spec.msq = m;
    spec.sqrt_s = 91.2;
    at::Generator gen = make_generator(5);
    at::Tensor p = EventGenerator(spec).generate(50000, gen);
    at::Tensor s_ij = pair_invariants(p) / (91.2 * 91.2);
    EXPECT_GE(s_ij.min().item<double>(), m * (1 - 1e-12)) << "msq = " << m;
    EXPECT_LE(conservation_violation(p, 91.2).max().item<double>(), 1e-12);
    EXPECT_LE(mass_violation(p, 91.2).max().item<double>(), 1e-12);
    // The smallest invariants reach down to the cut: the sampler covers the singular corners.
    EXPECT_LT(s_ij.min().item<double>(), 2 * m);
  }
}

TEST(QqgTarget, SymmetrizeShufflesTheParticleOrder) {
  TargetSpec spec = spec_of(TargetKind::kQqg);
  at::Generator gen = make_generator(6);
  at::Tensor ordered = EventGenerator(spec).generate(40000, gen);
  spec.symmetrize = true;
  at::Tensor shuffled = EventGenerator(spec).generate(40000, gen);
  // The gluon is softer than the quark in order; shuffled slots all look alike.
  at::Tensor e = energies(ordered).mean(0);
  EXPECT_GT((e[0] - e[2]).item<double>(), 0.02);
  at::Tensor es = energies(shuffled);
  EXPECT_GT(ks_test(es.select(1, 0), es.select(1, 2)).p_value, kPValue);
  EXPECT_LT(ks_test(energies(ordered).select(1, 0), energies(ordered).select(1, 2)).p_value, 1e-6);
}

TEST(ApsTarget, AntennaVariablesOfEveryEmissionLieInTheirRange) {
  for (double xi_max : {20.0, 40.0}) {
    TargetSpec spec = spec_of(TargetKind::kAps);
    spec.particles = 10;
    spec.xi_max = xi_max;
    spec.shuffle = false;
    at::Generator gen = make_generator(11);
    at::Tensor p = EventGenerator(spec).generate(20000, gen);
    EXPECT_LE(conservation_violation(p, 1.0).max().item<double>(), 1e-12);
    EXPECT_LE(mass_violation(p, 1.0).max().item<double>(), 1e-12);
    at::Tensor last = p.select(1, 9);
    double lowest = 1e300, highest = 0;
    for (int i = 1; i < 9; ++i) {
      at::Tensor xi = antenna_variables(p.select(1, i - 1), last, p.select(1, i));
      lowest = std::min(lowest, xi.min().item<double>());
      highest = std::max(highest, xi.max().item<double>());
    }
    EXPECT_GE(lowest, (1 / xi_max) * (1 - 1e-9));
    EXPECT_LE(highest, xi_max * (1 + 1e-9));
    // ...and they fill it: log xi is uniform on [-log xi_max, log xi_max].
    at::Tensor xi = antenna_variables(p.select(1, 3), last, p.select(1, 4)).select(1, 0).log() / std::log(xi_max);
    EXPECT_GT(ks_test(xi, [](const at::Tensor& t) { return (t + 1) / 2; }).p_value, kPValue);
  }
}

TEST(ApsTarget, AntennaVariablesAreInvariantUnderTheRamboMap) {
  at::Generator gen = make_generator(12);
  at::Tensor q = aps_chain(1000, 6, 30.0, gen);
  at::Tensor p = rambo_map(q.narrow(2, 1, 3), 1.0);
  for (int i = 1; i < 5; ++i) {
    at::Tensor before = antenna_variables(q.select(1, i - 1), q.select(1, 5), q.select(1, i));
    at::Tensor after = antenna_variables(p.select(1, i - 1), p.select(1, 5), p.select(1, i));
    EXPECT_LE(max_abs(after / before - 1.0), 1e-9);
  }
}

TEST(ApsTarget, ShuffledEventsArePermutationsWithExchangeableSlots) {
  TargetSpec spec = spec_of(TargetKind::kAps);
  spec.particles = 5;
  at::Generator gen = make_generator(13);
  at::Tensor p = EventGenerator(spec).generate(30000, gen);
  at::Tensor e = energies(p);
  EXPECT_GT(ks_test(e.select(1, 0), e.select(1, 4)).p_value, kPValue);
}

TEST(Targets, EveryTargetIsExactAndReportsItsAcceptance) {
  for (TargetKind kind : {TargetKind::kUniform, TargetKind::kMuon, TargetKind::kQqg, TargetKind::kAps}) {
    TargetSpec spec = spec_of(kind);
    spec.sqrt_s = 13.0;
    spec.particles = 4;
    at::Generator gen = make_generator(3);
    EventGenerator generator(spec);
    at::Tensor p = generator.generate(5000, gen);
    EXPECT_EQ(p.size(0), 5000);
    EXPECT_EQ(p.size(1), spec.n_particles());
    EXPECT_LE(conservation_violation(p, 13.0).max().item<double>(), 1e-12) << target_name(kind);
    EXPECT_LE(mass_violation(p, 13.0).max().item<double>(), 1e-12) << target_name(kind);
    EXPECT_GT(generator.stats().efficiency(), 0.3);
    EXPECT_LE(generator.stats().efficiency(), 1.0);
    EXPECT_EQ(static_cast<std::int64_t>(spec.pdg_ids().size()), spec.n_particles());
    // Same seed, same events.
    at::Generator again = make_generator(3);
    EXPECT_TRUE(at::equal(EventGenerator(spec).generate(5000, again), p)) << target_name(kind);
  }
}

TEST(Targets, BadSettingsAreRefused) {
  TargetSpec qqg = spec_of(TargetKind::kQqg);
  qqg.msq = 0.0;
  EXPECT_ERROR_CONTAINS(qqg.validate(), "msq: expected a cut 0 < msq < 1/3");
  qqg.msq = 0.34;
  EXPECT_ERROR_CONTAINS(EventGenerator{qqg}, "msq: expected a cut 0 < msq < 1/3 on s_ij/s, but got 0.34");
  TargetSpec aps = spec_of(TargetKind::kAps);
  aps.xi_max = 1.0;
  EXPECT_ERROR_CONTAINS(aps.validate(), "xi_max: expected xi_max > 1");
  aps.xi_max = 30;
  aps.particles = 2;
  EXPECT_ERROR_CONTAINS(aps.validate(), "expected N >= 3 for the APS target");
  EXPECT_ERROR_CONTAINS(target_from_name("higgs"), "unknown target 'higgs'");
  EXPECT_EQ(target_from_name("qqg"), TargetKind::kQqg);
}

}  // namespace
}  // namespace phasegen
