#include "phasegen/models/assignment.hpp"

#include <limits>

#include "phasegen/core/error.hpp"

namespace phasegen {

std::vector<std::int64_t> min_cost_assignment(const at::Tensor& cost) {
  PHASEGEN_CHECK(cost.dim() == 2 && cost.size(0) == cost.size(1), "assignment: expected a square cost matrix, but got ",
                 cost.sizes());
  const at::Tensor c = cost.to(at::kCPU, at::kDouble).contiguous();
  PHASEGEN_CHECK(at::isfinite(c).all().item<bool>(), "assignment: the cost matrix has a non-finite entry");
  const std::int64_t n = c.size(0);
  const double* a = c.data_ptr<double>();
  const double inf = std::numeric_limits<double>::infinity();
  // Rows and columns are numbered from 1; column 0 is the virtual start of each augmenting path.
  std::vector<double> row_potential(n + 1, 0.0), column_potential(n + 1, 0.0), slack(n + 1);
  std::vector<std::int64_t> row_of(n + 1, 0), previous(n + 1, 0);
  std::vector<char> visited(n + 1);
  for (std::int64_t row = 1; row <= n; ++row) {
    row_of[0] = row;
    std::int64_t column = 0;
    std::fill(slack.begin(), slack.end(), inf);
    std::fill(visited.begin(), visited.end(), 0);
    // Dijkstra on reduced costs until a free column is reached.
    do {
      visited[column] = 1;
      const std::int64_t i = row_of[column];
      double delta = inf;
      std::int64_t next = 0;
      for (std::int64_t j = 1; j <= n; ++j) {
        if (visited[j]) continue;
        const double reduced = a[(i - 1) * n + (j - 1)] - row_potential[i] - column_potential[j];
        if (reduced < slack[j]) {
          slack[j] = reduced;
          previous[j] = column;
        }
        if (slack[j] < delta) {
          delta = slack[j];
          next = j;
        }
      }
      for (std::int64_t j = 0; j <= n; ++j) {
        if (visited[j]) {
          row_potential[row_of[j]] += delta;
          column_potential[j] -= delta;
        } else {
          slack[j] -= delta;
        }
      }
      column = next;
    } while (row_of[column] != 0);
    // Flip the path back to its start.
    do {
      const std::int64_t back = previous[column];
      row_of[column] = row_of[back];
      column = back;
    } while (column != 0);
  }
  std::vector<std::int64_t> assignment(n);
  for (std::int64_t j = 1; j <= n; ++j) assignment[row_of[j] - 1] = j - 1;
  return assignment;
}

}  // namespace phasegen
