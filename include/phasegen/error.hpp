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
// line on stderr and exit code 2.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace phasegen {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

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
