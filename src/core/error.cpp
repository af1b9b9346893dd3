#include "phasegen/core/error.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace phasegen {

std::int64_t parse_int(const std::string& text, const std::string& key) {
  errno = 0;
  char* end = nullptr;
  const long long value = text.empty() ? 0 : std::strtoll(text.c_str(), &end, 10);
  PHASEGEN_CHECK(!text.empty() && end == text.c_str() + text.size() && errno != ERANGE, key,
                 ": expected an integer, but got '", text, "'");
  return static_cast<std::int64_t>(value);
}

double parse_double(const std::string& text, const std::string& key) {
  errno = 0;
  char* end = nullptr;
  const double value = text.empty() ? 0.0 : std::strtod(text.c_str(), &end);
  PHASEGEN_CHECK(!text.empty() && end == text.c_str() + text.size() && errno != ERANGE && std::isfinite(value), key,
                 ": expected a finite number, but got '", text, "'");
  return value;
}

}  // namespace phasegen
