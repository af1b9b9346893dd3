#include "output_set.hpp"

#include <algorithm>
#include <filesystem>
#include <ostream>

#include "cli_support.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/physics/observables.hpp"

namespace phasegen::cli {

OutputSet::OutputSet(const std::vector<std::string>& paths, const WriterOptions& options) : sqrt_s_(options.sqrt_s) {
  for (const auto& path : paths) writers_.push_back(open_event_writer(path, options));
}

void OutputSet::record_exactness(const at::Tensor& events) {
  worst_conservation_ =
      std::max(worst_conservation_, conservation_violation(events, sqrt_s_).max().item<double>());
  worst_mass_ = std::max(worst_mass_, mass_violation(events, sqrt_s_).max().item<double>());
}

void OutputSet::write(const at::Tensor& events) {
  record_exactness(events);
  for (auto& w : writers_) w->write(events);
}

void OutputSet::write(const at::Tensor& events, const at::Tensor& weights) {
  record_exactness(events);
  for (auto& w : writers_) w->write(events, weights);
}

void OutputSet::add_run_attribute(const std::string& key, const std::string& value) {
  for (auto& w : writers_) w->add_run_attribute(key, value);
}

void OutputSet::close() {
  for (auto& w : writers_) w->close();
}

void OutputSet::print_written(std::ostream& out) const {
  for (const auto& w : writers_) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(w->path(), ec);
    out << "  wrote               " << w->path() << " (" << format_name(format_from_path(w->path())) << ", "
        << (ec ? std::string("?") : format_bytes(size)) << ")\n";
  }
}

}  // namespace phasegen::cli

namespace phasegen::cli {

void print_exactness(std::ostream& out, const OutputSet& outputs) {
  out << "  worst conservation  max |sum p - (sqrt_s, 0)| / sqrt_s = " << format_number(outputs.worst_conservation())
      << "\n"
      << "  worst masslessness  max |E - |p|| / sqrt_s = " << format_number(outputs.worst_mass()) << "\n";
}

}  // namespace phasegen::cli

namespace phasegen::cli {

double generate_into(OutputSet& outputs, std::int64_t events, std::int64_t chunk, const std::string& label,
                     const std::function<at::Tensor(std::int64_t)>& draw) {
  ProgressBar bar(label, events, "events");
  double seconds = 0.0;
  for (std::int64_t done = 0; done < events;) {
    check_interrupt(detail::concat("interrupted after ", done, " events (", label, "); no output was written"));
    const std::int64_t n = std::min(chunk, events - done);
    const auto start = Clock::now();
    at::Tensor p = draw(n);
    seconds += seconds_since(start);
    outputs.write(p);
    done += n;
    bar.update(done);
  }
  outputs.close();
  bar.finish();
  return seconds;
}

}  // namespace phasegen::cli
