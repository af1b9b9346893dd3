// A small JSON writer for result files (eval.json, integrate's result): objects as ordered lists of
// (key, already-formatted value).
//
//   std::string text = phasegen::json_object({{"integral", phasegen::json_number(1.5)},
//                                             {"unit", phasegen::json_string("GeV^2")}}, 0);
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace phasegen {

/// `text` quoted, with quotes, backslashes and control characters escaped.
std::string json_string(const std::string& text);
/// `value` with 6 significant digits; null for a non-finite value.
std::string json_number(double value);
/// {"key": value, ...}, one member per line, indented by `indent` spaces (members by indent + 2).
std::string json_object(const std::vector<std::pair<std::string, std::string>>& members, int indent);

}  // namespace phasegen
