// Shared helpers of the test suite.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "phasegen/error.hpp"

namespace phasegen::test {

inline double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

/// Runs `statement` and returns the phasegen::Error message it throws ("" if none).
template <typename F>
std::string error_of(F&& statement) {
  try {
    statement();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace phasegen::test

#define EXPECT_ERROR_CONTAINS(statement, fragment)                                       \
  do {                                                                                   \
    const std::string message_ = ::phasegen::test::error_of([&] { statement; });          \
    EXPECT_FALSE(message_.empty()) << "no phasegen::Error thrown by " #statement;          \
    EXPECT_NE(message_.find(fragment), std::string::npos) << "message: " << message_;     \
  } while (false)
