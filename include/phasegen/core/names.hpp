// Names of enumerated settings, for the one place they are spelled: run cards and descriptions.
// Inside the library every setting is an enum; a table of (value, name) pairs turns it into text
// and back, with one error message for every unknown name.
//
//   inline constexpr phasegen::NameTable<OdeSolver, 3> kOdeSolverNames{
//       "solver", "ODE solver", {{{OdeSolver::kEuler, "euler"}, {OdeSolver::kHeun, "heun"}, {OdeSolver::kRk4, "rk4"}}}};
//   OdeSolver s = kOdeSolverNames.parse("heun");       // throws "solver: unknown ODE solver 'x': expected ..."
//   const char* name = kOdeSolverNames.name(s);        // "heun"
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <utility>

#include "phasegen/core/error.hpp"

namespace phasegen {

template <typename Enum, std::size_t Count>
struct NameTable {
  const char* key;       ///< the card key, first in every message
  const char* noun;      ///< "unknown <noun> 'x'"; nullptr: "expected <list>, but got 'x'"
  std::array<std::pair<Enum, const char*>, Count> entries;
  const char* expected = nullptr;  ///< the list in messages; nullptr: the names joined by ", " and " or "

  Enum parse(const std::string& text) const {
    for (const auto& [value, name] : entries) {
      if (text == name) return value;
    }
    if (noun == nullptr) throw Error(detail::concat(key, ": expected ", choices(), ", but got '", text, "'"));
    throw Error(detail::concat(key, ": unknown ", noun, " '", text, "': expected ", choices()));
  }
  const char* name(Enum value) const {
    for (const auto& [v, name] : entries) {
      if (v == value) return name;
    }
    PHASEGEN_ASSERT(false, key, ": a value without a name");
    return "";
  }
  std::string choices() const {
    if (expected != nullptr) return expected;
    std::string list;
    for (std::size_t i = 0; i < Count; ++i) {
      list += (i == 0 ? "" : (i + 1 == Count ? " or " : ", "));
      list += entries[i].second;
    }
    return list;
  }
};

}  // namespace phasegen
