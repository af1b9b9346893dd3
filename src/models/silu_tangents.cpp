// The elementwise work of the MLP's exact divergence in one pass each way: silu and the scaling of
// the Jacobian tangents by silu', as one differentiable operation with its own backward.
//
// Written as separate LibTorch operations, autograd keeps and walks about six temporaries of the
// tangents' size [batch, 3N, width] per layer (the scaling, its two backward products, the reduction
// over the 3N columns and their gradient sums); here the forward writes the tangents once and the
// backward reads them and their gradient once. CPU float and double tensors take the fused loops;
// anything else (CUDA, other types) the same formulas as LibTorch operations.
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include "phasegen/core/error.hpp"
#include "phasegen/models/nn.hpp"

namespace phasegen {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// silu'(z) = sigmoid(z) (1 + z (1 - sigmoid(z)))
at::Tensor silu_first(const at::Tensor& z, const at::Tensor& sig) { return sig * (1.0 + z * (1.0 - sig)); }

// silu''(z) = sigmoid(z) (1 - sigmoid(z)) (2 + z (1 - 2 sigmoid(z)))
at::Tensor silu_second(const at::Tensor& z, const at::Tensor& sig) {
  return sig * (1.0 - sig) * (2.0 + z * (1.0 - 2.0 * sig));
}

bool fused(const at::Tensor& z, const at::Tensor& dz) {
  return z.device().is_cpu() && dz.device().is_cpu() && z.scalar_type() == dz.scalar_type() &&
         (z.scalar_type() == at::kFloat || z.scalar_type() == at::kDouble);
}

// tangents[b, i, k] = dz[b or 0, i, k] * d1[b, k]
template <typename T>
void scale_tangents(const T* dz, const T* d1, T* out, std::int64_t batch, std::int64_t columns, std::int64_t width,
                    bool shared) {
  at::parallel_for(0, batch, 16, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b) {
      const T* __restrict__ in = dz + (shared ? 0 : b * columns * width);
      const T* __restrict__ scale = d1 + b * width;
      T* __restrict__ o = out + b * columns * width;
      for (std::int64_t i = 0; i < columns; ++i) {
        for (std::int64_t k = 0; k < width; ++k) o[i * width + k] = in[i * width + k] * scale[k];
      }
    }
  });
}

// The backward pass over the tangents: grad_dz[b, i, k] = g[b, i, k] d1[b, k] (summed over b where
// dz is shared by the batch) and along[b, k] = sum_i g[b, i, k] dz[b or 0, i, k].
template <typename T>
void tangents_backward(const T* g, const T* dz, const T* d1, T* grad_dz, T* along, std::int64_t batch,
                       std::int64_t columns, std::int64_t width, bool shared) {
  auto rows = [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b) {
      const T* __restrict__ gb = g + b * columns * width;
      const T* __restrict__ in = dz + (shared ? 0 : b * columns * width);
      const T* __restrict__ scale = d1 + b * width;
      T* __restrict__ gd = grad_dz + (shared ? 0 : b * columns * width);
      T* __restrict__ acc = along + b * width;
      for (std::int64_t i = 0; i < columns; ++i) {
        const T* __restrict__ gi = gb + i * width;
        const T* __restrict__ di = in + i * width;
        T* __restrict__ gdi = gd + i * width;
        if (shared) {
          for (std::int64_t k = 0; k < width; ++k) gdi[k] += gi[k] * scale[k];
        } else {
          for (std::int64_t k = 0; k < width; ++k) gdi[k] = gi[k] * scale[k];
        }
        for (std::int64_t k = 0; k < width; ++k) acc[k] += gi[k] * di[k];
      }
    }
  };
  // A shared dz sums its gradient over the batch: one thread, in a fixed order (deterministic).
  if (shared) rows(0, batch);
  else at::parallel_for(0, batch, 16, rows);
}

struct SiluTangents : public torch::autograd::Function<SiluTangents> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& z, const at::Tensor& dz_in) {
    const at::Tensor dz = dz_in.contiguous();
    const std::int64_t batch = z.size(0), columns = dz.size(1), width = z.size(1);
    const bool shared = dz.size(0) == 1 && batch != 1;
    const at::Tensor sig = at::sigmoid(z);
    const at::Tensor d1 = silu_first(z, sig).contiguous();
    at::Tensor tangents = at::empty({batch, columns, width}, z.options());
    AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "silu_with_tangents", [&] {
      scale_tangents(dz.data_ptr<scalar_t>(), d1.data_ptr<scalar_t>(), tangents.data_ptr<scalar_t>(), batch, columns,
                     width, shared);
    });
    ctx->save_for_backward({z, sig, d1, dz});
    ctx->saved_data["shared"] = shared;
    return {z * sig, tangents};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &z = saved[0], &sig = saved[1], &d1 = saved[2], &dz = saved[3];
    const bool shared = ctx->saved_data["shared"].toBool();
    const std::int64_t batch = z.size(0), columns = dz.size(1), width = z.size(1);
    at::Tensor grad_z = grads[0].defined() ? grads[0] * d1 : at::zeros_like(z);
    at::Tensor grad_dz;
    if (grads[1].defined()) {
      const at::Tensor g = grads[1].contiguous();
      grad_dz = shared ? at::zeros_like(dz) : at::empty_like(dz);
      at::Tensor along = at::zeros({batch, width}, z.options());
      AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "silu_with_tangents_backward", [&] {
        tangents_backward(g.data_ptr<scalar_t>(), dz.data_ptr<scalar_t>(), d1.data_ptr<scalar_t>(),
                          grad_dz.data_ptr<scalar_t>(), along.data_ptr<scalar_t>(), batch, columns, width, shared);
      });
      grad_z = grad_z + along * silu_second(z, sig);
    } else {
      grad_dz = at::zeros_like(dz);
    }
    return {grad_z, grad_dz};
  }
};

}  // namespace

std::pair<at::Tensor, at::Tensor> silu_with_tangents(const at::Tensor& z, const at::Tensor& dz) {
  PHASEGEN_CHECK(z.dim() == 2 && dz.dim() == 3 && dz.size(2) == z.size(1) && (dz.size(0) == z.size(0) || dz.size(0) == 1),
                 "silu_with_tangents: expected z [batch, width] and dz [batch or 1, columns, width], but got ",
                 z.sizes(), " and ", dz.sizes());
  if (!fused(z, dz)) {
    const at::Tensor sig = at::sigmoid(z);
    return {z * sig, dz * silu_first(z, sig).unsqueeze(1)};
  }
  const variable_list out = SiluTangents::apply(z, dz);
  return {out[0], out[1]};
}

}  // namespace phasegen
