// Shared helpers of the test suite.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <torch/nn/module.h>
#include <torch/optim/adamw.h>

#include <string>
#include <utility>

#include "phasegen/core/error.hpp"

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

/// Trains `net` for `steps` AdamW steps (lr 3e-3) on minibatches of 256 cycling through the first
/// 3840 rows of `data`, and returns the mean loss of the first 20 steps and of the last 20.
template <typename Loss>
std::pair<double, double> first_and_last_losses(torch::nn::Module& net, const at::Tensor& data, int steps,
                                                Loss&& loss_of) {
  torch::optim::AdamW opt(net.parameters(), torch::optim::AdamWOptions(3e-3));
  double first = 0, last = 0;
  for (int step = 0; step < steps; ++step) {
    opt.zero_grad();
    at::Tensor loss = loss_of(data.narrow(0, (step * 256) % 3840, 256));
    loss.backward();
    opt.step();
    if (step < 20) first += loss.item<double>() / 20;
    if (step >= steps - 20) last += loss.item<double>() / 20;
  }
  return {first, last};
}

}  // namespace phasegen::test

#define EXPECT_ERROR_CONTAINS(statement, fragment)                                       \
  do {                                                                                   \
    const std::string message_ = ::phasegen::test::error_of([&] { statement; });          \
    EXPECT_FALSE(message_.empty()) << "no phasegen::Error thrown by " #statement;          \
    EXPECT_NE(message_.find(fragment), std::string::npos) << "message: " << message_;     \
  } while (false)
