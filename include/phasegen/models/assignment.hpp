// Minimum-cost assignment (the linear assignment problem), for the optimal-transport coupling of
// flow matching: pairs each data event of a minibatch with one prior draw so that the summed cost
// is smallest. Shortest augmenting paths with row and column potentials, O(n^3).
//
//   std::vector<std::int64_t> column = phasegen::min_cost_assignment(cost);  // cost [n, n]
//   // row i is paired with column column[i]; every column is used once
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace phasegen {

/// The permutation minimising sum_i cost[i, column[i]] for a square cost matrix (any float type,
/// finite entries).
std::vector<std::int64_t> min_cost_assignment(const at::Tensor& cost);

}  // namespace phasegen
