#include "plots.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "phasegen/core/error.hpp"
#include "phasegen/io/event_io.hpp"

namespace phasegen::cli {

namespace {

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Text inside a gnuplot single-quoted string: '' stands for '; underscores would start subscripts
// in the enhanced mode, so they are escaped.
std::string gp_text(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '\'') out += "''";
    else if (c == '_' || c == '^' || c == '{' || c == '}' || c == '@' || c == '&' || c == '~') out += std::string("\\") + c;
    else out += c;
  }
  return out;
}

std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.7g", std::isfinite(value) ? value : 0.0);
  return buffer;
}

const char* const kColours[] = {"#000000", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
std::string colour(std::size_t k, std::size_t count, bool last_is_flat) {
  if (last_is_flat && k + 1 == count) return "#999999";
  return kColours[k % 7];
}

}  // namespace

Plotter::Plotter(std::string dir) : dir_(std::move(dir)) {
  PHASEGEN_CHECK(std::system("command -v gnuplot >/dev/null 2>&1") == 0,
                 "plots: gnuplot not found (install gnuplot-nox, e.g. through scripts/install-deps.sh)");
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  PHASEGEN_CHECK(!ec && std::filesystem::is_directory(dir_), "plots: cannot create the directory '", dir_, "'");
}

std::string Plotter::render(const std::string& name, const std::string& script) {
  const std::filesystem::path dir(dir_);
  const std::string png = (dir / (name + ".png")).string();
  const std::string temp = "." + name + ".png.tmp";
  write_text_file((dir / (name + ".gp")).string(),
                  "# phasegen figure; re-run with: gnuplot " + name + ".gp (writes " + name + ".png)\n" +
                      "set output '" + name + ".png'\n" + script);
  // Run on a copy that writes the temporary image, then rename it into place.
  const std::string run_script = "." + name + ".run.gp";
  write_text_file((dir / run_script).string(), "set output '" + temp + "'\n" + script + "unset output\n");
  const std::string log = "." + name + ".log";
  const std::string command = "cd " + shell_quote(dir_) + " && gnuplot " + shell_quote(run_script) + " >" +
                              shell_quote(log) + " 2>&1";
  const int status = std::system(command.c_str());
  std::string message;
  {
    std::ifstream in(dir / log);
    std::getline(in, message);
  }
  std::error_code ec;
  std::filesystem::remove(dir / run_script, ec);
  std::filesystem::remove(dir / log, ec);
  if (status != 0) {
    std::filesystem::remove(dir / temp, ec);
    throw Error(detail::concat("plots: gnuplot failed on ", (dir / (name + ".gp")).string(),
                               message.empty() ? std::string() : ": " + message));
  }
  std::filesystem::rename(dir / temp, png, ec);
  PHASEGEN_CHECK(!ec, "plots: cannot write '", png, "': ", ec.message());
  return png;
}

std::string Plotter::histogram(const std::string& name, const std::string& title, const std::string& xlabel,
                               const std::vector<Series>& series, int bins, double low, double high) {
  PHASEGEN_CHECK(!series.empty() && bins >= 2, "plots: a histogram needs a truth and at least 2 bins");
  const at::Tensor truth = series[0].values.to(at::kDouble).flatten();
  if (!(low < high)) {
    const at::Tensor q = at::quantile(truth, at::tensor({0.0005, 0.9995}, at::kDouble));
    low = q[0].item<double>();
    high = q[1].item<double>();
    if (!(low < high)) high = low + 1.0;
  }
  const double width = (high - low) / bins;
  std::vector<at::Tensor> counts;
  for (const auto& s : series) counts.push_back(at::histc(s.values.to(at::kDouble).flatten(), bins, low, high));
  std::ostringstream data;
  data << "$data << EOD\n";
  for (int b = 0; b < bins; ++b) {
    data << number(low + (b + 0.5) * width);
    const double n0 = static_cast<double>(truth.numel());
    const double c0 = counts[0][b].item<double>();
    data << ' ' << number(c0 / (n0 * width)) << ' ' << number(c0 > 0 ? 1.0 / std::sqrt(c0) : 0.0);
    for (std::size_t k = 1; k < series.size(); ++k) {
      const double n = static_cast<double>(series[k].values.numel());
      const double c = counts[k][b].item<double>();
      data << ' ' << number(c / (n * width)) << ' ' << (c0 > 0 ? number((c / n) / (c0 / n0)) : "NaN");
    }
    data << '\n';
  }
  data << "EOD\n";
  const bool flat = series.size() > 2 && series.back().label.find("flat") != std::string::npos;
  std::ostringstream gp;
  gp << "set terminal pngcairo size 760,620 enhanced font 'Sans,11'\n" << data.str()
     << "set multiplot\nset lmargin 11\nset rmargin 3\n"
     << "set size 1,0.68\nset origin 0,0.32\nset bmargin 0\nset tmargin 2.5\nset format x ''\n"
     << "set title '" << gp_text(title) << "'\nset ylabel '1/N dN/dx'\nset key top left opaque box\nset grid\n"
     << "set xrange [" << number(low) << ":" << number(high) << "]\nset yrange [0:*]\n"
     << "plot $data using 1:2 with steps lw 2 lc rgb '#000000' title '" << gp_text(series[0].label) << "'";
  for (std::size_t k = 1; k < series.size(); ++k) {
    gp << ", $data using 1:" << 2 + 2 * k << " with steps lw 2 lc rgb '" << colour(k, series.size(), flat)
       << "' title '" << gp_text(series[k].label) << "'";
  }
  gp << "\nset size 1,0.32\nset origin 0,0\nset bmargin 4\nset tmargin 0\nset format x '%g'\nunset title\n"
     << "set xlabel '" << gp_text(xlabel) << "'\nset ylabel 'ratio to " << gp_text(series[0].label)
     << "'\nset yrange [0.5:1.5]\nset ytics 0.5,0.25,1.25\nunset key\n"
     << "plot $data using 1:(1-$3):(1+$3) with filledcurves lc rgb '#dddddd' notitle, 1 lc rgb '#000000' notitle";
  for (std::size_t k = 1; k < series.size(); ++k) {
    gp << ", $data using 1:" << 3 + 2 * k << " with steps lw 2 lc rgb '" << colour(k, series.size(), flat)
       << "' notitle";
  }
  gp << "\nunset multiplot\n";
  return render(name, gp.str());
}

std::string Plotter::dalitz(const std::string& name, const std::vector<Series>& panels, double sqrt_s, int bins) {
  PHASEGEN_CHECK(!panels.empty(), "plots: a Dalitz figure needs at least one panel");
  const double high = sqrt_s / 2.0, width = high / bins;
  std::ostringstream gp;
  const int columns = static_cast<int>(panels.size());
  gp << "set terminal pngcairo size " << 380 * columns + 80 << ",420 enhanced font 'Sans,10'\n";
  double top = 0;
  std::vector<at::Tensor> densities;
  for (const auto& panel : panels) {
    const at::Tensor e = panel.values.to(at::kDouble);
    const at::Tensor i = (e.select(1, 0) / width).floor().clamp(0, bins - 1).to(at::kLong);
    const at::Tensor j = (e.select(1, 1) / width).floor().clamp(0, bins - 1).to(at::kLong);
    at::Tensor h = at::zeros({bins * bins}, at::kDouble).index_add_(0, i * bins + j, at::ones({e.size(0)}, at::kDouble));
    h = h / (static_cast<double>(e.size(0)) * width * width);
    densities.push_back(h.view({bins, bins}));
    if (densities.size() == 1) top = h.max().item<double>();
  }
  for (std::size_t k = 0; k < panels.size(); ++k) {
    gp << "$p" << k << " << EOD\n";
    for (int a = 0; a < bins; ++a) {
      for (int b = 0; b < bins; ++b) {
        const double value = densities[k][a][b].item<double>();
        gp << number((a + 0.5) * width) << ' ' << number((b + 0.5) * width) << ' '
           << (value > 0 ? number(value) : "NaN") << '\n';
      }
      gp << '\n';
    }
    gp << "EOD\n";
  }
  gp << "set multiplot layout 1," << columns << "\nset size ratio -1\nset xrange [0:" << number(high)
     << "]\nset yrange [0:" << number(high) << "]\nset cbrange [0:" << number(top) << "]\n"
     << "set palette defined (0 '#ffffff', 1 '#c6dbef', 3 '#4292c6', 6 '#08306b')\nset xlabel 'E_1 [GeV]'\n"
     << "set ylabel 'E_2 [GeV]'\nset cblabel 'density [GeV^{-2}]'\nset object 1 rect from graph 0,0 to graph 1,1 behind fc rgb '#f4f4f4' fs solid\n";
  for (std::size_t k = 0; k < panels.size(); ++k) {
    gp << "set title '" << gp_text(panels[k].label) << "'\n"
       << "plot $p" << k << " using 1:2:3 with image notitle\n";
  }
  gp << "unset multiplot\n";
  return render(name, gp.str());
}

std::string Plotter::curves(const std::string& name, const std::string& title, const std::string& xlabel,
                            const std::string& ylabel,
                            const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& lines) {
  std::ostringstream gp;
  gp << "set terminal pngcairo size 760,480 enhanced font 'Sans,11'\n";
  for (std::size_t k = 0; k < lines.size(); ++k) {
    gp << "$c" << k << " << EOD\n";
    for (const auto& [x, y] : lines[k].second) gp << number(x) << ' ' << number(y) << '\n';
    gp << "EOD\n";
  }
  gp << "set title '" << gp_text(title) << "'\nset xlabel '" << gp_text(xlabel) << "'\nset ylabel '" << gp_text(ylabel)
     << "'\nset grid\nset key top right\nplot ";
  for (std::size_t k = 0; k < lines.size(); ++k) {
    gp << (k ? ", " : "") << "$c" << k << " using 1:2 with lines lw 2 lc rgb '" << kColours[(k + 1) % 7] << "' title '"
       << gp_text(lines[k].first) << "'";
  }
  if (lines.empty()) gp << "NaN notitle";
  gp << "\n";
  return render(name, gp.str());
}

}  // namespace phasegen::cli
