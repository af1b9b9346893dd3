// One training step's loss and gradient over the CPU's cores: the rows of a minibatch split into
// parts computed side by side, each with a random stream of its own, the parts' gradients summed
// in a fixed order.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "phasegen/models/nn.hpp"

namespace phasegen {

/// Loss of a minibatch of events [batch, N, 4] float64 with the step's random generator.
using LossFunction = std::function<at::Tensor(const at::Tensor& events, at::Generator& gen)>;

/// The minibatch loss (detached) after accumulating its gradient into the parameters' .grad. With
/// workers > 1 the rows are split into up to `workers` contiguous parts, multiples of `group` rows,
/// computed side by side on threads of their own (run_in_parts): part k draws from its own stream
/// part_generator(k), its loss is weighted by its share of the rows, and the parts' gradients are
/// summed, in part order, into .grad: the gradient of the minibatch's mean loss. One part (workers
/// 1, or too few rows) is loss(events, gen) and its backward pass, nothing else.
/// `batch_rows` > 0 says the events are a share of a minibatch of that many rows (the rest on other
/// processes): the parts are weighted by their share of batch_rows, and even one part draws from
/// part_generator(0), so that the processes' sums make the minibatch's mean.
at::Tensor loss_and_gradients(const std::vector<at::Tensor>& parameters, const LossFunction& loss,
                              const at::Tensor& events, at::Generator& gen, int workers, std::int64_t group,
                              const std::function<at::Generator(int part)>& part_generator,
                              std::int64_t batch_rows = 0);

/// Scales the gradients of `parameters` to a total 2-norm of at most max_norm, with the operations
/// of torch::nn::utils::clip_grad_norm_ (so the same numbers), but without reading the norm back to
/// the host, which would wait for a GPU every step.
void clip_gradients(const std::vector<at::Tensor>& parameters, double max_norm);

}  // namespace phasegen
