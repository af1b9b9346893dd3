// Terminal helpers of the command-line tool: progress bars, interrupts, number formatting.
#pragma once

#include <chrono>
#include <stdexcept>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace phasegen::cli {

/// A progress bar on stderr, redrawn at most ten times a second on a terminal; elsewhere (logs,
/// pipes) a plain line at every tenth of a run once it has lasted 5 s.
class ProgressBar {
 public:
  ProgressBar(std::string label, std::int64_t total, std::string unit);
  ~ProgressBar();
  void update(std::int64_t done);
  void finish();
  /// Where a resumed run starts: the rate counts from here.
  void set_start(std::int64_t done) {
    first_ = done;
    last_tenth_ = total_ > 0 ? done * 10 / total_ : 0;
  }
  /// Text shown after the counts (loss, learning rate...).
  void set_note(std::string note) { note_ = std::move(note); }

 private:
  void draw(std::int64_t done, bool final);
  std::string label_;
  std::int64_t total_;
  std::string unit_;
  std::string note_;
  std::int64_t first_ = 0;
  std::int64_t last_tenth_ = 0;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

/// The exit code of a run stopped by Ctrl-C or SIGTERM (the shell's code for SIGINT).
inline constexpr int kInterruptedExit = 130;

/// A run stopped by Ctrl-C after saving its state: exit code kInterruptedExit with this message.
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The --threads flag (0: automatic), set once by main.
void set_requested_threads(int threads);
/// Sets LibTorch's intra-op threads for a command: the --threads value when given, else one per
/// CPU for event generation and 1 for network work, where LibTorch's threads on top of OpenBLAS's
/// own oversubscribe the cores (measured: 5.8 training steps/s on 1 thread, 1.8 on 2; see
/// docs/PERFORMANCE.md).
enum class Workload { kGeneration, kNetwork };
void configure_threads(Workload workload);

/// Installs SIGINT/SIGTERM handlers that only raise a flag; long loops poll it.
void install_interrupt_handler();
bool interrupt_requested();
/// The one interrupt path of every command: throws Interrupted(message) (exit code 130) once
/// Ctrl-C or SIGTERM has been seen.
void check_interrupt(const std::string& message);

/// Throws phasegen::Error unless a file can be created at `path` (its directory exists and is
/// writable): checked before long work whose result would otherwise be lost.
void check_writable_location(const std::string& path);

/// "1.23e+06"-style figures with a fixed number of significant digits.
std::string format_number(double value, int digits = 3);
/// "12.3 MB" for a file size in bytes.
std::string format_bytes(std::uintmax_t bytes);

/// The (i, n) of "i/n" with 1 <= i <= n, a shard of a sampling run (sample --shard, merge); nullopt
/// for any other text.
std::optional<std::pair<std::int64_t, std::int64_t>> shard_position(const std::string& text);

}  // namespace phasegen::cli

#include <iosfwd>

namespace phasegen::cli {

class OutputSet;

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// The two "worst conservation" and "worst masslessness" lines of a summary.
void print_exactness(std::ostream& out, const OutputSet& outputs);

}  // namespace phasegen::cli
