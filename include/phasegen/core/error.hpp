// The one error type of phasegen.
//
//   try {
//     auto events = phasegen::read_events("run.hepmc3");
//   } catch (const phasegen::Error& e) {
//     std::cerr << "phasegen: " << e.what() << '\n';  // names the file and event
//   }
//
// User errors (bad input, bad options, unreadable or non-physical files) throw
// phasegen::Error with a message that says what was expected, what was got, and
// where. The library never prints; the command-line tool turns the error into one
// line on stderr and exit code 2. A broken invariant of phasegen itself (a bug, not
// the user's doing) throws phasegen::InternalError through PHASEGEN_ASSERT: exit
// code 1 and a request to report it.
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace phasegen {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// A bug in phasegen: an invariant the code relies on does not hold.
class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& message) : std::logic_error(message) {}
};

/// A number from the whole of `text` (nothing else in it, no overflow, finite); nullopt otherwise,
/// for the caller's message naming the setting (run-card flags, launcher variables, run records).
std::optional<std::int64_t> to_int(const std::string& text);
std::optional<double> to_double(const std::string& text);

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  out.precision(12);
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

}  // namespace phasegen

/// Throws phasegen::Error built from the message parts when `cond` is false.
#define PHASEGEN_CHECK(cond, ...)                                   \
  do {                                                              \
    if (!(cond)) throw ::phasegen::Error(::phasegen::detail::concat(__VA_ARGS__)); \
  } while (false)

/// Throws phasegen::InternalError (a bug, not a user error) naming the source line when `cond` is false.
#define PHASEGEN_ASSERT(cond, ...)                                                                   \
  do {                                                                                               \
    if (!(cond)) {                                                                                   \
      throw ::phasegen::InternalError(                                                               \
          ::phasegen::detail::concat(__FILE__, ":", __LINE__, ": ", #cond, " does not hold: ", __VA_ARGS__)); \
    }                                                                                                \
  } while (false)
