// Score and velocity networks on q-space: the paper's MLP for labelled particles and a
// permutation-equivariant transformer for unlabelled ones.
//
//   phasegen::QNetwork net = phasegen::make_network(phasegen::NetworkOptions().particles(3));
//   at::Tensor s = net->forward(q, t);   // q [batch, 3, 3] float32, t [batch] in [0, 1] -> [batch, 3, 3]
//   std::cout << net->description() << ", " << phasegen::parameter_count(*net) << " parameters\n";
//
// Inputs are q [batch, N, 3] (with extra_inputs k: [batch, N, 3 + k], the state's own features
// appended per particle) and the time t/T [batch]; outputs are [batch, N, 3]. Output layers start
// at zero, so an untrained network predicts 0.
#pragma once

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <cstdint>
#include <memory>
#include <string>
#include <functional>
#include <utility>
#include <vector>

#include "phasegen/core/names.hpp"

namespace phasegen {

enum class NetworkKind { kMlp, kTransformer };
inline constexpr NameTable<NetworkKind, 2> kNetworkKindNames{
    "network", "network", {{{NetworkKind::kMlp, "mlp"}, {NetworkKind::kTransformer, "transformer"}}}};

/// Architecture of a network, with chained setters in the LibTorch style.
struct NetworkOptions {
  /// Throws phasegen::Error for inconsistent sizes.
  void validate() const;
  std::string description() const;

  TORCH_ARG(NetworkKind, kind) = NetworkKind::kMlp;
  TORCH_ARG(std::int64_t, particles) = 3;        ///< N
  /// Coordinates per particle of the state (3; 2 for the Dalitz-plane state, one "particle").
  /// The MLP takes any; the transformer reads its 3 as a q-space momentum.
  TORCH_ARG(std::int64_t, coordinates) = 3;
  TORCH_ARG(std::int64_t, hidden) = 256;         ///< MLP width
  TORCH_ARG(std::int64_t, layers) = 4;           ///< MLP hidden layers
  TORCH_ARG(std::int64_t, time_embedding) = 64;  ///< sinusoidal embedding size (even)
  TORCH_ARG(std::int64_t, model_dim) = 128;      ///< transformer token size d
  TORCH_ARG(std::int64_t, blocks) = 4;           ///< transformer pre-LayerNorm blocks
  TORCH_ARG(std::int64_t, heads) = 4;            ///< attention heads (divide d)
  /// Inputs per particle beyond its 3 coordinates (e.g. the 4-momentum of its event).
  TORCH_ARG(std::int64_t, extra_inputs) = 0;
  /// Transformer: pair-interaction attention biases. The 3 coordinates of each particle are read
  /// as a q-space state; the logs of its event's pair invariants (pair_features) go through a
  /// small MLP (5 -> pair_hidden -> pair_hidden -> heads x blocks, SiLU) to one bias per head and
  /// block, added to the attention logits. Symmetric in the pair, so the network stays
  /// permutation-equivariant.
  TORCH_ARG(bool, pair_bias) = false;
  TORCH_ARG(std::int64_t, pair_hidden) = 64;
};

/// Per-particle features computed from a state x [batch, N, 3] -> [batch, N, k], e.g. the event
/// the state decodes to; given to a network beside the state (NetworkOptions::extra_inputs = k).
using InputFeatures = std::function<at::Tensor(const at::Tensor& x)>;

/// Features of every pair (i, j) of q-space states q [batch, N, 3] -> [batch, N, N, 5], in q's
/// type: for i != j, ln y_ij, ln(1 - cos theta_ij) = ln(2 y_ij / (x_i x_j)), ln z_ij =
/// ln(min(x_i, x_j) / (x_i + x_j)), ln kt_ij = ln(2 y_ij min(x_i, x_j) / max(x_i, x_j)) (each / 10,
/// clamped at kInvariantFloor) and 0; the diagonal (0, 0, 0, 0, 1). Exact functions of the decoded
/// event (see state_invariants), differentiable in q.
at::Tensor pair_features(const at::Tensor& q);

/// Sinusoidal embedding of t in [0, 1]: [sin(1000 t w_k), cos(1000 t w_k)], w_k = 10000^(-k/(d/2)).
/// t [batch] -> [batch, dim]. One time for all (t expanded from one element, as samplers pass it)
/// is embedded once.
at::Tensor sinusoidal_embedding(const at::Tensor& t, std::int64_t dim);

/// silu(z) and the Jacobian tangents carried through it: returns {x, tangents} with x = silu(z) and
/// tangents[b, i, :] = dz[b, i, :] * silu'(z[b, :]). z is [batch, width]; dz is [batch, columns, width],
/// or [1, columns, width] for tangents shared by the batch (a first layer's weight columns).
/// Differentiable once in z and dz, with one pass over the tangents each way (CPU float and double;
/// other devices and types take the same formulas as separate LibTorch operations).
std::pair<at::Tensor, at::Tensor> silu_with_tangents(const at::Tensor& z, const at::Tensor& dz);

/// Common interface of the q-space networks.
class QNetworkImpl : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& q, const at::Tensor& t) = 0;
  /// forward() on the state x with `features(x)` appended (no gradient flows into them), or on x
  /// alone when `features` is empty.
  at::Tensor forward_with(const at::Tensor& x, const at::Tensor& t, const InputFeatures& features);
  /// forward_with(x, t, features) and its exact Jacobian over the state: (v [batch, N, c], J [batch,
  /// D, D]) with D = N c and J[b, i, j] = d v_i / d x_j, the features' dependence on x included (they
  /// are functions of the state). By reverse mode over D copies of each event (every network here
  /// treats events independently), in blocks of rows; the MLP without features overrides it with
  /// forward-mode tangents. Needs no graph from the caller and leaves none.
  virtual std::pair<at::Tensor, at::Tensor> forward_and_jacobian(const at::Tensor& x, const at::Tensor& t,
                                                                 const InputFeatures& features);
  virtual std::string description() const = 0;
  /// Draws every weight from `gen` (LibTorch's default laws: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
  /// for linear layers, LayerNorm at identity), output layers at zero.
  virtual void reset_parameters(at::Generator& gen) = 0;
};
/// The holder of a q-space network (shared ownership, as every LibTorch module holder).
TORCH_MODULE(QNetwork);

/// The paper's MLP: [flattened q (3N), embedding of t] -> layers x hidden (SiLU) -> 3N.
class MlpNetworkImpl : public QNetworkImpl {
 public:
  explicit MlpNetworkImpl(const NetworkOptions& options);
  at::Tensor forward(const at::Tensor& q, const at::Tensor& t) override;
  std::string description() const override { return options_.description(); }
  void reset_parameters(at::Generator& gen) override;
  const NetworkOptions& options() const { return options_; }
  /// forward(q, t) and its exact divergence sum_i d out_i / d q_i over the 3N coordinates [batch],
  /// in one pass: the Jacobian columns of the 3N inputs are carried through the layers beside the
  /// activations (forward mode, a matrix product of 3N times the batch per layer), instead of 3N
  /// backward passes. Differentiable in the weights (for training with it). No extra inputs.
  std::pair<at::Tensor, at::Tensor> forward_and_divergence(const at::Tensor& q, const at::Tensor& t);
  /// Without features: the Jacobian from the same tangents as the divergence (one pass, no backward).
  std::pair<at::Tensor, at::Tensor> forward_and_jacobian(const at::Tensor& x, const at::Tensor& t,
                                                         const InputFeatures& features) override;

 private:
  /// The last hidden layer's activations [batch, hidden] and their tangents d/dq [batch, 3N, hidden].
  std::pair<at::Tensor, at::Tensor> hidden_with_tangents(const at::Tensor& q, const at::Tensor& t);
  /// The first layer's input [batch, 3N + time embedding], after checking the shapes.
  at::Tensor input(const at::Tensor& q, const at::Tensor& t) const;
  /// The first layer's pre-activation [batch, hidden] (one embedding product for a shared time).
  at::Tensor first_layer(const at::Tensor& q, const at::Tensor& t) const;

  NetworkOptions options_;
  std::vector<torch::nn::Linear> linears_;
};

/// Tokens [q, q_hat, log|q|, embedding of t] per particle -> d, pre-LayerNorm self-attention blocks
/// with no positional information (so permuting particles permutes outputs), -> 3 per particle.
class TransformerNetworkImpl : public QNetworkImpl {
 public:
  explicit TransformerNetworkImpl(const NetworkOptions& options);
  at::Tensor forward(const at::Tensor& q, const at::Tensor& t) override;
  std::string description() const override { return options_.description(); }
  void reset_parameters(at::Generator& gen) override;

 private:
  struct Block {
    torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
    torch::nn::Linear qkv{nullptr}, proj{nullptr}, up{nullptr}, down{nullptr};
  };
  NetworkOptions options_;
  torch::nn::Linear embed_{nullptr};
  torch::nn::Sequential pair_mlp_{nullptr};  ///< with pair_bias: pair features -> heads x blocks
  std::vector<Block> blocks_;
  torch::nn::LayerNorm final_norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};

/// A network of the kind the options name, its weights drawn from a generator seeded with `seed`
/// (the same seed gives the same network).
QNetwork make_network(const NetworkOptions& options, std::uint64_t seed = 0);

/// Number of trainable parameters.
std::int64_t parameter_count(const torch::nn::Module& module);

}  // namespace phasegen
