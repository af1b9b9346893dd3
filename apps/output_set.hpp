// The event files one command writes: opened together before any work, fed batch by batch,
// closed together; it tracks the worst round-off seen in what it wrote.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "phasegen/io/event_io.hpp"

namespace phasegen::cli {

class OutputSet {
 public:
  OutputSet(const std::vector<std::string>& paths, const WriterOptions& options);
  void write(const at::Tensor& events);
  /// Events with their weights, for options with weights.
  void write(const at::Tensor& events, const at::Tensor& weights);
  /// EventWriter::add_run_attribute on every file, before close().
  void add_run_attribute(const std::string& key, const std::string& value);
  void close();
  double worst_conservation() const { return worst_conservation_; }
  double worst_mass() const { return worst_mass_; }
  /// "  wrote  PATH (format, size)" lines.
  void print_written(std::ostream& out) const;

 private:
  void record_exactness(const at::Tensor& events);
  std::vector<std::unique_ptr<EventWriter>> writers_;
  double sqrt_s_;
  double worst_conservation_ = 0.0;
  double worst_mass_ = 0.0;
};

/// Draws `events` events in chunks of `chunk` through `draw(n)`, writes them to `outputs` and
/// closes it, with a progress bar labelled `label` and a check for interrupts between chunks.
/// Returns the seconds spent in `draw`.
double generate_into(OutputSet& outputs, std::int64_t events, std::int64_t chunk, const std::string& label,
                     const std::function<at::Tensor(std::int64_t)>& draw);

}  // namespace phasegen::cli
