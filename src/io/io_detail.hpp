// Pieces shared by the event-file formats.
#pragma once

#include <memory>
#include <string>

#include "atomic_file.hpp"
#include "phasegen/io/event_io.hpp"

namespace phasegen::detail {

std::unique_ptr<EventWriter> open_pt_writer(const std::string& path, const WriterOptions& options);
std::unique_ptr<EventWriter> open_hepmc3_writer(const std::string& path, const WriterOptions& options);
std::unique_ptr<EventWriter> open_lhe_writer(const std::string& path, const WriterOptions& options);

/// What every format's writer holds: its settings, its temporary file and a count.
class FileEventWriter : public EventWriter {
 public:
  const std::string& path() const override { return file_.path(); }
  std::int64_t events_written() const override { return written_; }
  /// Both check the call against how the file was opened (weights expected or not; one per event,
  /// finite, >= 0) and hand the batch to write_rows.
  void write(const at::Tensor& events) final;
  void write(const at::Tensor& events, const at::Tensor& weights) final;

 protected:
  FileEventWriter(const std::string& path, const WriterOptions& options) : options_(options), file_(path) {}
  /// Appends checked events [b, N, 4] (contiguous float64, CPU) with their weights [b] (contiguous
  /// float64, CPU; undefined for a file without weights) and counts them.
  virtual void write_rows(const at::Tensor& events, const at::Tensor& weights) = 0;
  WriterOptions options_;
  AtomicFile file_;
  std::int64_t written_ = 0;
};

/// Raw events and metadata as a format reader found them, before validation.
struct RawEvents {
  at::Tensor momenta;  // [n, N, 4] float64
  std::vector<int> pdg_ids;
  RunInfo run;
  bool single_precision = false;
  at::Tensor weights;  // [n] float64, or undefined
  WeightInfo weight_info;
};

/// The weight information as run attributes ("weights", "weight_name", "cross_section", ...), and back
/// from a run's attributes (mode kNone when they have none).
std::vector<std::pair<std::string, std::string>> weight_attributes(const WeightInfo& info);
WeightInfo weight_info_from_run(const RunInfo& run);
RawEvents read_pt(const std::string& path);
RawEvents read_hepmc3(const std::string& path);
RawEvents read_lhe(const std::string& path);

/// One id per particle from the options (one id for all, or N ids).
std::vector<int> expand_pdg_ids(const WriterOptions& options);

/// Checks a batch handed to a writer and returns it as contiguous float64 on the CPU.
at::Tensor writable_batch(const at::Tensor& events, const WriterOptions& options, const std::string& path);

/// RunInfo as "key = value" lines (values escaped onto one line), and back.
std::string run_info_to_text(const RunInfo& run);
RunInfo run_info_from_text(const std::string& text);

/// Accumulates the particle lists of events of one N, in order, for readers.
class EventCollector {
 public:
  explicit EventCollector(std::string source) : source_(std::move(source)) {}
  /// Adds one event: `values` holds N rows of (E, px, py, pz).
  void add(const std::vector<double>& values, const std::vector<int>& pdg_ids);
  at::Tensor momenta() const;
  const std::vector<int>& first_pdg_ids() const { return first_ids_; }
  std::int64_t events() const { return events_; }

 private:
  std::string source_;
  std::vector<double> data_;
  std::vector<int> first_ids_;
  std::int64_t particles_ = -1;
  std::int64_t events_ = 0;
};

}  // namespace phasegen::detail
