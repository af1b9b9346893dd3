#include "phasegen/training/workers.hpp"

#include <torch/csrc/autograd/autograd.h>

#include <algorithm>

#include "phasegen/core/error.hpp"
#include "phasegen/core/parallel.hpp"

namespace phasegen {

void clip_gradients(const std::vector<at::Tensor>& parameters, double max_norm) {
  std::vector<at::Tensor> grads, norms;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return;
  for (const auto& g : grads) norms.push_back(g.norm(2.0));
  const at::Tensor total = norms.size() == 1 ? norms[0] : at::stack(norms).norm(2.0);
  const at::Tensor factor = at::clamp(max_norm / (total + 1e-6), c10::nullopt, 1.0);
  for (auto& g : grads) g.mul_(factor);
}

at::Tensor loss_and_gradients(const std::vector<at::Tensor>& params, const LossFunction& loss,
                              const at::Tensor& events, at::Generator& gen, int workers, std::int64_t group,
                              const std::function<at::Generator(int part)>& part_generator,
                              std::int64_t batch_rows) {
  const std::int64_t rows = events.size(0);
  const std::int64_t whole = batch_rows > 0 ? batch_rows : rows;
  PHASEGEN_ASSERT(whole >= rows, "a share of ", rows, " rows of a minibatch of ", whole);
  const std::int64_t groups = (rows + group - 1) / group;
  const int parts = static_cast<int>(std::min<std::int64_t>(std::max(workers, 1), groups));
  if (parts <= 1 && whole == rows) {
    at::Tensor value = loss(events, gen);
    value.backward();
    return value.detach();
  }
  std::vector<std::vector<at::Tensor>> grads(static_cast<std::size_t>(parts));
  std::vector<at::Tensor> losses(static_cast<std::size_t>(parts));
  // Parts are split in whole groups: part k takes groups [k * groups / parts, (k + 1) * groups / parts).
  run_in_parts(groups, parts, [&](int part, std::int64_t first_group, std::int64_t group_count) {
    const std::int64_t begin = first_group * group;
    const std::int64_t count = std::min(rows, (first_group + group_count) * group) - begin;
    at::AutoGradMode graph(true);
    at::Generator part_gen = part_generator(part);
    const at::Tensor value =
        loss(events.narrow(0, begin, count), part_gen) * (static_cast<double>(count) / static_cast<double>(whole));
    grads[static_cast<std::size_t>(part)] =
        torch::autograd::grad({value}, params, /*grad_outputs=*/{}, /*retain_graph=*/false, /*create_graph=*/false,
                              /*allow_unused=*/true);
    losses[static_cast<std::size_t>(part)] = value.detach();
  });
  at::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params.size(); ++i) {
    at::Tensor sum;
    for (const auto& part : grads) {
      if (!part[i].defined()) continue;
      sum = sum.defined() ? sum.add_(part[i]) : part[i].clone();
    }
    if (!sum.defined()) continue;
    at::Tensor& grad = params[i].mutable_grad();
    grad = grad.defined() ? grad.add_(sum) : sum;
  }
  at::Tensor total = losses.front();
  for (std::size_t k = 1; k < losses.size(); ++k) total = total + losses[k];
  return total;
}

}  // namespace phasegen
