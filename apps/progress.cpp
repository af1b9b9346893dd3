#include <ATen/Parallel.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli_support.hpp"
#include "phasegen/core/error.hpp"

namespace phasegen::cli {

namespace {

volatile std::sig_atomic_t g_interrupted = 0;

void on_signal(int) { g_interrupted = 1; }

std::string format_duration(double seconds) {
  std::ostringstream out;
  const auto s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) out << s / 3600 << "h" << (s % 3600) / 60 << "m";
  else if (s >= 60) out << s / 60 << "m" << s % 60 << "s";
  else out << s << "s";
  return out.str();
}

}  // namespace

ProgressBar::ProgressBar(std::string label, std::int64_t total, std::string unit)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      enabled_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && !finished_) std::cerr << '\n';
}

void ProgressBar::update(std::int64_t done) {
  if (!enabled_) {
    // Logs and pipes get a plain line at every tenth of a run that has lasted over 5 s.
    const std::int64_t tenth = total_ > 0 ? done * 10 / total_ : 10;
    if (tenth > last_tenth_) {
      last_tenth_ = tenth;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      if (elapsed > 5.0 && done < total_) {
        const double rate = static_cast<double>(done - first_) / elapsed;
        std::cerr << label_ << ": " << done << "/" << total_ << " " << unit_ << " (" << tenth * 10 << "%), "
                  << format_number(rate) << " " << unit_ << "/s, ETA "
                  << format_duration(static_cast<double>(total_ - done) / std::max(rate, 1e-9))
                  << (note_.empty() ? "" : ", " + note_) << std::endl;
      }
    }
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(done, false);
}

void ProgressBar::finish() {
  if (!enabled_ || finished_) return;
  draw(total_, true);
  std::cerr << '\n';
  finished_ = true;
}

void ProgressBar::draw(std::int64_t done, bool final) {
  constexpr int kWidth = 30;
  const double fraction = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const int filled = static_cast<int>(fraction * kWidth);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done - first_) / elapsed : 0.0;
  std::ostringstream line;
  line << '\r' << label_ << " [" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] "
       << static_cast<int>(100 * fraction) << "% " << done << "/" << total_ << " " << format_number(rate)
       << " " << unit_ << "/s";
  if (!note_.empty()) line << " " << note_;
  if (!final && rate > 0) line << " ETA " << format_duration(static_cast<double>(total_ - done) / rate);
  else line << " in " << format_duration(elapsed) << "   ";
  std::cerr << line.str() << std::flush;
}

namespace {
int g_requested_threads = 0;
}  // namespace

void set_requested_threads(int threads) { g_requested_threads = threads; }

void configure_threads(Workload workload) {
  int threads = g_requested_threads;
  if (threads <= 0) {
    const unsigned cpus = std::thread::hardware_concurrency();
    threads = workload == Workload::kGeneration ? static_cast<int>(cpus > 0 ? cpus : 1) : 1;
  }
  at::set_num_threads(threads);
}

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool interrupt_requested() { return g_interrupted != 0; }

void check_interrupt(const std::string& message) {
  if (interrupt_requested()) throw Interrupted(message);
}

void check_writable_location(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  errno = 0;
  PHASEGEN_CHECK(::access(dir.c_str(), W_OK) == 0, "cannot write '", path, "': ", std::strerror(errno));
}

std::string format_number(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
  return buffer;
}

std::string format_bytes(std::uintmax_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1000 && unit < 4) {
    value /= 1000;
    ++unit;
  }
  return format_number(value, 3) + " " + units[unit];
}

std::optional<std::pair<std::int64_t, std::int64_t>> shard_position(const std::string& text) {
  std::int64_t index = 0, count = 0;
  char slash = 0, extra = 0;
  std::istringstream in(text);
  const bool ok = static_cast<bool>(in >> index >> slash >> count) && slash == '/' && !(in >> extra);
  if (!ok || index < 1 || index > count) return std::nullopt;
  return std::make_pair(index, count);
}

}  // namespace phasegen::cli
