// Event files: .pt (PyTorch), HepMC3 Asciiv3 and LHE v3, each with a writer and a validating
// reader, chosen by file extension.
//
//   phasegen::WriterOptions opts;
//   opts.particles = 5; opts.sqrt_s = 91.2; opts.run.description = "uniform phase space";
//   auto writer = phasegen::open_event_writer("events.hepmc3", opts);
//   writer->write(p);          // [batch, 5, 4] float64, any number of calls
//   writer->close();           // renames the finished temporary file into place
//   phasegen::EventSet back = phasegen::read_events("events.hepmc3");
//
// Writers are atomic: events go to a temporary file beside the target, renamed on close();
// a writer destroyed without close() (an error, an interrupt) removes its temporary file.
// Readers accept only massless events in their centre-of-momentum frame with one N and one
// sqrt_s throughout (or, on request, massless events that violate conservation), and name the
// file and event number when they refuse one.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace phasegen {

enum class EventFormat { kPt, kHepMC3, kLhe };

/// The format implied by the extension of `path` (.pt; .hepmc3 or .hepmc; .lhe).
/// Throws phasegen::Error for any other extension.
EventFormat format_from_path(const std::string& path);

/// "pt", "hepmc3" or "lhe".
const char* format_name(EventFormat format);

/// How a file was made; written into every output header and read back where the format
/// keeps it (HepMC3 run info, LHE header).
struct RunInfo {
  std::string description;                                      ///< what the events are
  std::optional<std::uint64_t> seed;                            ///< random seed, if any
  std::vector<std::pair<std::string, std::string>> attributes;  ///< further settings, in order
  std::string version;                                          ///< phasegen version that wrote it
  std::string commit;                                           ///< git commit of that build
};

/// A RunInfo stamped with this build's version and commit.
RunInfo make_run_info(std::string description);

/// Per-event weights of a file and the run's cross section: what a weighted writer writes, and
/// what a reader found.
struct WeightInfo {
  /// kNone: every event counts once (weights 1, the files phasegen wrote before weights);
  /// kWeighted: each event carries its weight in the cross section's unit, whose mean is the cross
  /// section (LHE IDWTUP 4); kUnweighted: unit weights from accept / reject, the rare over-weight
  /// event with its weight w / w_max > 1, the cross section in the header (LHE IDWTUP 3).
  enum class Mode { kNone, kWeighted, kUnweighted };
  Mode mode = Mode::kNone;
  std::string name = "weight";  ///< what the weight is (the HepMC3 weight name)
  double cross_section = 0.0;   ///< the run's integral, in `unit`
  double error = 0.0;           ///< its standard error
  double max_weight = 0.0;      ///< the largest weight written (LHE XMAXUP)
  std::string unit;             ///< of the cross section (and of kWeighted weights), e.g. "GeV^2"
};
const char* weight_mode_name(WeightInfo::Mode mode);  ///< "none", "weighted" or "unweighted"

struct WriterOptions {
  std::int64_t particles = 0;        ///< N, checked on every write
  double sqrt_s = 1.0;               ///< total energy, GeV
  std::vector<int> pdg_ids;          ///< one id for all particles, or N ids; default photons
  std::pair<int, int> beam_ids{11, -11};  ///< incoming beams along +z and -z
  RunInfo run;
  /// With a mode other than kNone the events are written with write(events, weights), and the
  /// cross section goes into each format's place for it (HepMC3 GenCrossSection on every event, the
  /// LHE <init> block, the .pt dict).
  WeightInfo weights;
};

class EventWriter {
 public:
  virtual ~EventWriter() = default;
  /// Appends events [batch, N, 4] (E, px, py, pz), GeV; any floating type and device.
  virtual void write(const at::Tensor& events) = 0;
  /// Appends events with their weights [batch] (finite, >= 0), for options with weights.
  virtual void write(const at::Tensor& events, const at::Tensor& weights) = 0;
  /// Finishes the file and moves it into place. Throws if anything failed on the way.
  virtual void close() = 0;
  /// Adds an attribute to the run information that is known only once the events are made (a
  /// generator-level cut's dropped fraction). Formats that write the run information at the end
  /// (.pt) keep it; those whose header precedes the events (HepMC3, LHE) drop it.
  virtual void add_run_attribute(const std::string& /*key*/, const std::string& /*value*/) {}
  virtual const std::string& path() const = 0;
  virtual std::int64_t events_written() const = 0;
};

/// Opens a writer for `path` in the format its extension names. Fails at once, before any
/// event is made, if the extension is unknown or the directory cannot be written.
std::unique_ptr<EventWriter> open_event_writer(const std::string& path, const WriterOptions& options);

/// Events with what the file says of them.
struct EventSet {
  at::Tensor momenta;         ///< [n, N, 4] float64 (E, px, py, pz), GeV, on the CPU
  double sqrt_s = 0.0;        ///< total energy of the first event
  std::vector<int> pdg_ids;   ///< ids of the first event's particles, where the format has them
  RunInfo run;                ///< as written by phasegen, where the format keeps it
  /// [n] float64 when the file's events carry weights (weight_info.mode != kNone), else undefined.
  at::Tensor weights;
  WeightInfo weight_info;
};

struct ReadOptions {
  /// Largest accepted |sum p - (sqrt_s, 0)| and |E_i - |p_i|| relative to sqrt_s, and largest
  /// relative spread of sqrt_s between events. Float32 files get at least 1e-5.
  double tolerance = 1e-6;
  /// false: accept events that violate energy-momentum conservation (p-space baselines, other
  /// generators), to measure that violation; they must still be finite and massless.
  bool require_conservation = true;
  /// The nominal total energy, GeV, when conservation is not required (0: the mean sum E).
  double sqrt_s = 0.0;
};

/// Reads and validates every event of `path`.
EventSet read_events(const std::string& path, const ReadOptions& options = {});

/// States along a sampler's path, mapped to phase space.
struct Trajectory {
  at::Tensor steps;   ///< [S] int64, the diffusion step t of each state (T first, 0 last)
  at::Tensor events;  ///< [S, n, N, 4] float64
};

/// Writes a trajectory atomically as a .pt file holding the dict {"steps": ..., "events": ...}
/// (Python: d = torch.load(path); d["events"][k] are the events at step d["steps"][k]).
void write_trajectory(const std::string& path, const Trajectory& trajectory);

/// Reads a trajectory back, validating the events of every state like read_events.
Trajectory read_trajectory(const std::string& path, const ReadOptions& options = {});

/// Writes a text file (JSON, HTML, a gnuplot script) under a temporary name, then renames it onto
/// `path`: a reader never sees half a file.
void write_text_file(const std::string& path, const std::string& text);

/// Throws phasegen::Error naming `source` and the first offending event (numbered from 1) unless
/// every event of `momenta` [n, N, 4] is finite, massless and (with `conservation`) in its CM
/// frame at `sqrt_s`.
void validate_events(const at::Tensor& momenta, double sqrt_s, double tolerance, const std::string& source,
                     bool conservation = true);

}  // namespace phasegen
