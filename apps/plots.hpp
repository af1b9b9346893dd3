// Figures through gnuplot: each is one self-contained script DIR/name.gp (data inline, so it can be
// re-run or edited by hand) and its image DIR/name.png, written under a temporary name and renamed.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

namespace phasegen::cli {

/// A named sample of one observable, or of the Dalitz energies ([n, 2]).
struct Series {
  std::string label;
  at::Tensor values;
};

class Plotter {
 public:
  /// Creates `dir`; throws if gnuplot cannot be found.
  explicit Plotter(std::string dir);

  /// Normalised histograms of every series on common bins, series[0] the truth, with a ratio panel
  /// (series / truth, the truth's statistical band in grey). `low` < `high` fixes the range; else
  /// the truth's 0.05 % to 99.95 % quantiles.
  std::string histogram(const std::string& name, const std::string& title, const std::string& xlabel,
                        const std::vector<Series>& series, int bins, double low = 0, double high = 0);

  /// Dalitz plots side by side, one panel per series of (E1, E2) in GeV, on one colour scale.
  std::string dalitz(const std::string& name, const std::vector<Series>& panels, double sqrt_s, int bins = 60);

  /// Lines y(x): (label, points) per curve.
  std::string curves(const std::string& name, const std::string& title, const std::string& xlabel,
                     const std::string& ylabel,
                     const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& lines);

  const std::string& dir() const { return dir_; }

 private:
  std::string render(const std::string& name, const std::string& script);
  std::string dir_;
};

}  // namespace phasegen::cli
