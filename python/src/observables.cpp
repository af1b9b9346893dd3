// Observables of events, the conservation checks, and the distances between samples with their
// truth-vs-truth floors, for Python.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <functional>

#include "bindings.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/eval/evaluate.hpp"
#include "phasegen/eval/stats.hpp"
#include "phasegen/physics/observables.hpp"

namespace phasegen::python {

namespace {

using EventsFunction = at::Tensor (*)(const at::Tensor&);
using EnergyFunction = at::Tensor (*)(const at::Tensor&, double);

void def_events(py::module_& m, const char* name, EventsFunction f, const char* doc) {
  m.def(
      name, [name, f](py::handle p) { return f(events_arg(p, std::string(name) + ": p")); }, py::arg("p"), doc);
}

void def_events_energy(py::module_& m, const char* name, EnergyFunction f, const char* doc) {
  m.def(
      name,
      [name, f](py::handle p, py::handle sqrt_s) {
        const std::string where = std::string(name) + ": p";
        at::Tensor events = events_arg(p, where);
        return f(events, sqrt_s_of(sqrt_s, events, name));
      },
      py::arg("p"), py::arg("sqrt_s") = py::none(), doc);
}

at::Tensor three_body(py::handle p, const std::string& where) {
  at::Tensor events = events_arg(p, where);
  PHASEGEN_CHECK(events.size(1) == 3, where, ": expected three-body events [n, 3, 4], but got N = ", events.size(1));
  return events;
}

// The weights of a weighted sample: [m], one per event of the sample, finite and >= 0.
at::Tensor weights_arg(py::handle w, const at::Tensor& sample, const std::string& where) {
  at::Tensor weights = optional_tensor_arg(w, where, {1, 0});
  if (!weights.defined()) return weights;
  PHASEGEN_CHECK(weights.size(0) == sample.size(0), where, ": expected one weight per event (", sample.size(0),
                 "), but got ", weights.size(0));
  PHASEGEN_CHECK(!(weights < 0).any().item<bool>(), where, ": expected weights >= 0");
  return weights;
}

void check_nonempty(const at::Tensor& a, const std::string& where) {
  PHASEGEN_CHECK(a.size(0) >= 1, where, ": expected at least one value, but got none");
}

// The arguments of a two-sample figure: two non-empty samples (named `first` and `second` in
// messages) and the second's optional weights.
struct TwoSamples {
  at::Tensor a, b, weights;
};
TwoSamples two_samples(py::handle a, py::handle b, py::handle weights, const std::string& fn,
                       const char* first = "a", const char* second = "b") {
  TwoSamples s{sample_arg(a, fn + ": " + first), sample_arg(b, fn + ": " + second), at::Tensor()};
  check_nonempty(s.a, fn + ": " + first);
  check_nonempty(s.b, fn + ": " + second);
  s.weights = weights_arg(weights, s.b, fn + ": weights");
  return s;
}

py::dict distances_dict(const Distances& d) {
  py::dict out;
  out["w1"] = d.w1;
  out["ks"] = d.ks.statistic;
  out["ks_p"] = d.ks.p_value;
  out["chi2"] = d.chi2.chi2;
  out["chi2_ndf"] = d.chi2.ndf;
  out["chi2_p"] = d.chi2.p_value;
  return out;
}

}  // namespace

void register_observables(py::module_& m) {
  def_events(m, "energies", &energies, "Particle energies E_i in event order: [n, N, 4] -> [n, N].");
  def_events(m, "sorted_energies", &sorted_energies, "Energies in decreasing order per event: [n, N, 4] -> [n, N].");
  def_events(m, "pair_dots", &pair_dots, "Minkowski products p_i.p_j of every pair: [n, N, 4] -> [n, N, N].");
  def_events(m, "pair_invariants", &pair_invariants,
             "s_ij = 2 p_i.p_j for i < j in the order (0,1), (0,2), ..., (N-2, N-1): [n, N, 4] -> [n, N(N-1)/2].");
  def_events(m, "pair_cosines", &pair_cosines, "cos(theta_ij) of every pair i < j: [n, N, 4] -> [n, N(N-1)/2].");
  def_events(m, "tau", &min_pair_dot, "tau = min_(i != j) p_i.p_j, the distance to the nearest soft or collinear limit: -> [n].");
  def_events(m, "thrust", &thrust, "Thrust T = max_n sum |p_i.n| / sum |p_i| (exact for N <= 12): -> [n].");
  def_events(m, "c_parameter", &c_parameter, "The C-parameter 3/2 (1 - tr Theta^2): -> [n].");
  def_events_energy(m, "log10_tau", &log10_min_pair_dot, "log10(tau / s): -> [n].");
  def_events_energy(m, "conservation_violation", &conservation_violation,
                    "max(|sum E - sqrt_s|, |sum p_x|, |sum p_y|, |sum p_z|) / sqrt_s per event: -> [n].");
  def_events_energy(m, "mass_violation", &mass_violation, "max_i |E_i - |p_i|| / sqrt_s per event: -> [n].");
  def_events_energy(m, "table_one_violation", &table_one_violation,
                    "The paper's conservation metric (its Table I): mean over events of |sum E - sqrt_s| / E_med and "
                    "|sum p_k| / E_med, -> [4] (E, x, y, z).");
  m.def(
      "dalitz_energies", [](py::handle p) { return dalitz_energies(three_body(p, "dalitz_energies: p")); }, py::arg("p"),
      "The Dalitz-plot coordinates (E1, E2) of three-body events: [n, 3, 4] -> [n, 2].");
  m.def(
      "rosenblatt",
      [](py::handle p, py::handle sqrt_s) {
        at::Tensor events = three_body(p, "rosenblatt: p");
        return muon_rosenblatt(events, sqrt_s_of(sqrt_s, events, "rosenblatt"));
      },
      py::arg("p"), py::arg("sqrt_s") = py::none(),
      "The muon-decay Rosenblatt variables (u1, u2): independent and uniform on [0, 1] exactly for muon-decay events. "
      "[n, 3, 4] -> [n, 2].");

  m.def("observable_names", [](std::int64_t particles) {
    std::vector<std::string> names;
    for (const auto& o : standard_observables(particles)) names.push_back(o.name);
    return names;
  }, py::arg("particles"), "The names of the standard observables of N-particle events, in order.");
  m.def(
      "observables",
      [](py::handle p, py::handle sqrt_s, const std::vector<std::string>& names) {
        at::Tensor events = events_arg(p, "observables: p");
        const double energy = sqrt_s_of(sqrt_s, events, "observables");
        py::dict out;
        for (const auto& o : named_observables(events.size(1), names)) out[py::str(o.name)] = o.compute(events, energy);
        return out;
      },
      py::arg("p"), py::arg("sqrt_s") = py::none(), py::arg("names") = std::vector<std::string>{},
      "The standard observables of events (or the named ones) as {name: [n] tensor}: energies, sorted energies, s_ij/s, "
      "angles, log10(tau/s), thrust, C-parameter and, for N = 3, u1 and u2.");

  m.def(
      "ks",
      [](py::handle a, py::handle b, py::handle weights) {
        const TwoSamples s = two_samples(a, b, weights, "ks");
        KsResult r = s.weights.defined() ? ks_test(s.a, s.b, s.weights) : ks_test(s.a, s.b);
        return py::make_tuple(r.statistic, r.p_value);
      },
      py::arg("a"), py::arg("b"), py::arg("weights") = py::none(),
      "Two-sample Kolmogorov-Smirnov test: (statistic, p-value); with weights for b, its p-value at b's effective size.");
  m.def(
      "ks_test",
      [](py::handle sample, const std::function<at::Tensor(const at::Tensor&)>& cdf) {
        at::Tensor x = sample_arg(sample, "ks_test: sample");
        check_nonempty(x, "ks_test: sample");
        KsResult r = ks_test(x, [&](const at::Tensor& t) {
          at::Tensor c = cdf(t);
          PHASEGEN_CHECK(c.defined() && c.sizes() == t.sizes(), "ks_test: cdf: expected a tensor shaped like its argument");
          return c;
        });
        return py::make_tuple(r.statistic, r.p_value);
      },
      py::arg("sample"), py::arg("cdf"),
      "One-sample Kolmogorov-Smirnov test of a sample against a continuous CDF (a function of a tensor): (statistic, p-value).");
  m.def(
      "wasserstein1",
      [](py::handle a, py::handle b, py::handle weights) {
        const TwoSamples s = two_samples(a, b, weights, "wasserstein1");
        return s.weights.defined() ? wasserstein1(s.a, s.b, s.weights) : wasserstein1(s.a, s.b);
      },
      py::arg("a"), py::arg("b"), py::arg("weights") = py::none(), "The 1-D Wasserstein distance between two samples.");
  m.def(
      "chi2",
      [](py::handle a, py::handle b, int bins, py::handle weights) {
        const TwoSamples s = two_samples(a, b, weights, "chi2");
        PHASEGEN_CHECK(bins >= 2, "chi2: expected bins >= 2, but got ", bins);
        Chi2Result r = s.weights.defined() ? chi2_test(s.a, s.b, bins, s.weights) : chi2_test(s.a, s.b, bins);
        return py::make_tuple(r.chi2, r.ndf, r.p_value);
      },
      py::arg("a"), py::arg("b"), py::arg("bins") = 50, py::arg("weights") = py::none(),
      "Binned two-sample chi2 (bins of equal fractions of a): (chi2, ndf, p-value).");
  m.def(
      "effective_size",
      [](py::handle w) {
        at::Tensor weights = sample_arg(w, "effective_size: weights");
        check_nonempty(weights, "effective_size: weights");
        return effective_size(weights);
      },
      py::arg("weights"), "The effective sample size (sum w)^2 / sum w^2.");
  m.def(
      "distances",
      [](py::handle truth, py::handle samples, int bins, py::handle weights) {
        const TwoSamples s = two_samples(truth, samples, weights, "distances", "truth", "samples");
        PHASEGEN_CHECK(bins >= 2, "distances: expected bins >= 2, but got ", bins);
        return distances_dict(distances(s.a, s.b, bins, s.weights));
      },
      py::arg("truth"), py::arg("samples"), py::arg("bins") = 50, py::arg("weights") = py::none(),
      "W1, KS and chi2 of one observable's samples against its truth: {w1, ks, ks_p, chi2, chi2_ndf, chi2_p}.");
  m.def(
      "truth_floor",
      [](py::handle truth, std::int64_t m, int bins) {
        at::Tensor t = sample_arg(truth, "truth_floor: truth");
        PHASEGEN_CHECK(t.size(0) >= 4, "truth_floor: expected a truth of at least 4 values, but got ", t.size(0));
        PHASEGEN_CHECK(m >= 1, "truth_floor: expected a set size m >= 1, but got ", m);
        PHASEGEN_CHECK(bins >= 2, "truth_floor: expected bins >= 2, but got ", bins);
        return distances_dict(truth_floor(t, m, bins));
      },
      py::arg("truth"), py::arg("m"), py::arg("bins") = 50,
      "The floor of a set of m events: the same figures between m truth values (the last m, at most half) and the rest.");
}

}  // namespace phasegen::python
