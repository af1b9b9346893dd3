#include "phasegen/models/nn.hpp"

#include <torch/nn/functional/activation.h>
#include <torch/nn/modules/activation.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "phasegen/core/error.hpp"
#include "phasegen/physics/phasespace.hpp"

namespace phasegen {

namespace F = torch::nn::functional;

void NetworkOptions::validate() const {
  PHASEGEN_CHECK(particles_ >= 1, "network: expected N >= 1 particles, but got ", particles_);
  PHASEGEN_CHECK(time_embedding_ >= 2 && time_embedding_ % 2 == 0,
                 "network: expected an even time embedding size >= 2, but got ", time_embedding_);
  if (kind_ == NetworkKind::kMlp) {
    PHASEGEN_CHECK(hidden_ >= 1 && layers_ >= 1, "network: expected hidden >= 1 and layers >= 1, but got ", hidden_,
                   " and ", layers_);
  } else {
    PHASEGEN_CHECK(model_dim_ >= 1 && blocks_ >= 1 && heads_ >= 1 && model_dim_ % heads_ == 0,
                   "network: expected d_model divisible by heads and blocks >= 1, but got d = ", model_dim_,
                   ", heads = ", heads_, ", blocks = ", blocks_);
  }
  PHASEGEN_CHECK(extra_inputs_ >= 0, "network: expected extra_inputs >= 0, but got ", extra_inputs_);
  PHASEGEN_CHECK(coordinates_ >= 1, "network: expected coordinates >= 1, but got ", coordinates_);
  PHASEGEN_CHECK(coordinates_ == 3 || kind_ == NetworkKind::kMlp, "network: the transformer needs 3 coordinates per particle");
  PHASEGEN_CHECK(!pair_bias_ || kind_ == NetworkKind::kTransformer, "network: pair_bias needs network = transformer");
  PHASEGEN_CHECK(!pair_bias_ || pair_hidden_ >= 1, "network: expected pair_hidden >= 1, but got ", pair_hidden_);
}

at::Tensor QNetworkImpl::forward_with(const at::Tensor& x, const at::Tensor& t, const InputFeatures& features) {
  if (!features) return forward(x, t);
  at::Tensor extra;
  {
    at::NoGradGuard no_grad;
    extra = features(x.detach()).to(x.scalar_type());
  }
  return forward(at::cat({x, extra}, 2), t);
}

std::pair<at::Tensor, at::Tensor> QNetworkImpl::forward_and_jacobian(const at::Tensor& x, const at::Tensor& t,
                                                                     const InputFeatures& features) {
  PHASEGEN_CHECK(x.dim() == 3 && t.dim() == 1 && t.size(0) == x.size(0),
                 "network Jacobian: expected states [batch, N, c] and times [batch], but got ", x.sizes(), " and ", t.sizes());
  const std::int64_t batch = x.size(0), d = x.size(1) * x.size(2);
  // Copy i of an event carries the gradient of its output i: one backward pass gives every row.
  constexpr std::int64_t kRowsPerBlock = 8192;
  const std::int64_t per_block = std::max<std::int64_t>(1, kRowsPerBlock / d);
  const at::Tensor eye = at::eye(d, x.options());
  std::vector<at::Tensor> outs, jacobians;
  at::AutoGradMode grad_mode(true);
  for (std::int64_t start = 0; start < batch; start += per_block) {
    const std::int64_t n = std::min(per_block, batch - start);
    const at::Tensor xb = x.narrow(0, start, n).detach();
    at::Tensor copies = xb.unsqueeze(1).expand({n, d, x.size(1), x.size(2)}).reshape({n * d, x.size(1), x.size(2)});
    copies = copies.clone().requires_grad_(true);
    const at::Tensor times = t.narrow(0, start, n).detach().unsqueeze(1).expand({n, d}).reshape({n * d});
    const at::Tensor input = features ? at::cat({copies, features(copies).to(copies.scalar_type())}, 2) : copies;
    const at::Tensor out = forward(input, times);
    const at::Tensor rows = torch::autograd::grad({out}, {copies}, {eye.expand({n, d, d}).reshape(out.sizes())})[0];
    jacobians.push_back(rows.detach().reshape({n, d, d}));
    outs.push_back(out.detach().reshape({n, d, d}).select(1, 0).reshape(xb.sizes()));
  }
  return {at::cat(outs), at::cat(jacobians)};
}

std::string NetworkOptions::description() const {
  const std::string extra =
      extra_inputs_ > 0 ? detail::concat(", ", extra_inputs_, " extra inputs per particle") : std::string();
  if (kind_ == NetworkKind::kMlp) {
    const std::string state = coordinates_ == 3 ? detail::concat(", N = ", particles_)
                                                : detail::concat(", state ", particles_, " x ", coordinates_);
    return detail::concat("MLP ", layers_, " x ", hidden_, " SiLU, time embedding ", time_embedding_, state, extra);
  }
  const std::string pairs = pair_bias_ ? detail::concat(", pair biases (MLP ", pair_hidden_, ")") : std::string();
  return detail::concat("transformer d = ", model_dim_, ", ", blocks_, " pre-LN blocks, ", heads_,
                        " heads", pairs, ", time embedding ", time_embedding_, ", N = ", particles_, extra);
}

namespace {

// One time for the whole batch: a sampler's step, passed as one element expanded over the batch.
bool one_time_for_the_batch(const at::Tensor& t) { return t.dim() == 1 && t.size(0) > 1 && t.stride(0) == 0; }

}  // namespace

at::Tensor pair_features(const at::Tensor& q) {
  const StateInvariants inv = state_invariants(q);
  const std::int64_t n = q.size(1);
  const at::Tensor xi = inv.x.unsqueeze(2), xj = inv.x.unsqueeze(1);
  const at::Tensor lo = at::minimum(xi, xj), hi = at::maximum(xi, xj);
  auto log_of = [](const at::Tensor& v) { return at::log(v.clamp_min(kInvariantFloor)) / 10.0; };
  const at::Tensor eye = at::eye(n, q.options()).unsqueeze(0).expand({q.size(0), n, n});
  const at::Tensor off = 1.0 - eye;
  return at::stack({log_of(inv.y) * off, log_of(2.0 * inv.y / (xi * xj)) * off, log_of(lo / (xi + xj)) * off,
                    log_of(2.0 * inv.y * lo / hi) * off, eye},
                   3);
}

at::Tensor sinusoidal_embedding(const at::Tensor& t, std::int64_t dim) {
  // One time for the whole batch: one row, expanded.
  if (one_time_for_the_batch(t)) {
    return sinusoidal_embedding(t.narrow(0, 0, 1), dim).expand({t.size(0), dim});
  }
  const std::int64_t half = dim / 2;
  at::Tensor k = at::arange(half, t.options());
  at::Tensor freqs = at::exp(k * (-std::log(10000.0) / half));
  at::Tensor angles = (t * 1000.0).unsqueeze(1) * freqs.unsqueeze(0);
  return at::cat({at::sin(angles), at::cos(angles)}, 1);
}

namespace {

void check_input(const at::Tensor& q, const at::Tensor& t, const NetworkOptions& o) {
  PHASEGEN_CHECK(q.dim() == 3 && q.size(1) == o.particles() && q.size(2) == o.coordinates() + o.extra_inputs(),
                 "network: expected q of shape [batch, ", o.particles(), ", ", o.coordinates() + o.extra_inputs(), "], but got ",
                 q.sizes());
  PHASEGEN_CHECK(t.dim() == 1 && t.size(0) == q.size(0), "network: expected t of shape [", q.size(0),
                 "], but got ", t.sizes());
}

void zero_init(torch::nn::Linear& layer) {
  torch::NoGradGuard guard;
  layer->weight.zero_();
  layer->bias.zero_();
}

void uniform_init(torch::nn::LinearImpl& layer, at::Generator& gen) {
  torch::NoGradGuard guard;
  const double bound = 1.0 / std::sqrt(static_cast<double>(layer.weight.size(1)));
  layer.weight.uniform_(-bound, bound, gen);
  layer.bias.uniform_(-bound, bound, gen);
}

void uniform_init(torch::nn::Linear& layer, at::Generator& gen) { uniform_init(*layer, gen); }

void identity_init(torch::nn::LayerNorm& norm) {
  torch::NoGradGuard guard;
  norm->weight.fill_(1.0);
  norm->bias.zero_();
}

}  // namespace

MlpNetworkImpl::MlpNetworkImpl(const NetworkOptions& options) : options_(options) {
  options_.validate();
  std::int64_t in = (options_.coordinates() + options_.extra_inputs()) * options_.particles() + options_.time_embedding();
  for (std::int64_t i = 0; i < options_.layers(); ++i) {
    linears_.push_back(register_module("hidden" + std::to_string(i), torch::nn::Linear(in, options_.hidden())));
    in = options_.hidden();
  }
  linears_.push_back(register_module("out", torch::nn::Linear(in, options_.coordinates() * options_.particles())));
  zero_init(linears_.back());
}

void MlpNetworkImpl::reset_parameters(at::Generator& gen) {
  for (std::size_t i = 0; i + 1 < linears_.size(); ++i) uniform_init(linears_[i], gen);
  zero_init(linears_.back());
}

at::Tensor MlpNetworkImpl::input(const at::Tensor& q, const at::Tensor& t) const {
  check_input(q, t, options_);
  return at::cat({q.flatten(1), sinusoidal_embedding(t, options_.time_embedding())}, 1);
}

at::Tensor MlpNetworkImpl::first_layer(const at::Tensor& q, const at::Tensor& t) const {
  const torch::nn::Linear& layer = linears_.front();
  if (one_time_for_the_batch(t)) {
    // Its embedding's share of the first layer is
    // one row, added as the bias, and the batch's product is over the 3N coordinates only.
    check_input(q, t, options_);
    const std::int64_t d = q.size(1) * q.size(2);
    const at::Tensor row = at::linear(sinusoidal_embedding(t.narrow(0, 0, 1), options_.time_embedding()),
                                      layer->weight.narrow(1, d, options_.time_embedding()), layer->bias);
    return at::addmm(row, q.flatten(1), layer->weight.narrow(1, 0, d).t());
  }
  return at::linear(input(q, t), layer->weight, layer->bias);
}

at::Tensor MlpNetworkImpl::forward(const at::Tensor& q, const at::Tensor& t) {
  const bool graph = at::GradMode::is_enabled();
  // Without a graph (sampling), large batches go through in blocks of rows whose activations stay in
  // the processor's cache between the layers (measured: docs/PERFORMANCE.md); rows are independent,
  // so the result is the same.
  constexpr std::int64_t kRowBlock = 2048;
  if (!graph && q.dim() == 3 && t.dim() == 1 && q.size(0) > kRowBlock && q.size(0) == t.size(0)) {
    std::vector<at::Tensor> blocks;
    const auto qs = q.split(kRowBlock), ts = t.split(kRowBlock);
    for (std::size_t i = 0; i < qs.size(); ++i) blocks.push_back(forward(qs[i], ts[i]));
    return at::cat(blocks);
  }
  at::Tensor x = first_layer(q, t);
  // Sampling needs no graph: the activations then overwrite the products in place.
  for (std::size_t i = 1; i < linears_.size(); ++i) {
    x = graph ? F::silu(x) : at::silu_(x);
    x = linears_[i]->forward(x);
  }
  return x.view({q.size(0), q.size(1), options_.coordinates()});
}

std::pair<at::Tensor, at::Tensor> MlpNetworkImpl::hidden_with_tangents(const at::Tensor& q, const at::Tensor& t) {
  const std::int64_t d = options_.coordinates() * options_.particles();
  at::Tensor x = input(q, t);
  // tangent[b, i, :] = d x / d q_i of the current layer's activations; at the first layer's
  // pre-activation it is column i of its weight for every example. The products with the weights
  // take the tangents of the whole batch as one matrix [batch * 3N, width] (as a 3-d product, the
  // weight gradient of LibTorch's backward is a batched product over the examples, 2x slower).
  const std::int64_t batch = q.size(0);
  at::Tensor tangent;
  for (std::size_t l = 0; l + 1 < linears_.size(); ++l) {
    const at::Tensor& w = linears_[l]->weight;
    const at::Tensor z = linears_[l]->forward(x);
    const at::Tensor dz = l == 0 ? w.narrow(1, 0, d).t().unsqueeze(0)
                                 : at::linear(tangent.reshape({batch * d, -1}), w).view({batch, d, -1});
    std::tie(x, tangent) = silu_with_tangents(z, dz);
  }
  return {x, tangent};
}

std::pair<at::Tensor, at::Tensor> MlpNetworkImpl::forward_and_divergence(const at::Tensor& q, const at::Tensor& t) {
  PHASEGEN_CHECK(options_.extra_inputs() == 0, "forward_and_divergence: expected a network without extra inputs");
  const std::int64_t batch = q.size(0);
  auto [x, tangent] = hidden_with_tangents(q, t);
  // div = sum_i (w_out tangent_i)_i: one matrix-vector product over the flattened [3N, hidden] columns.
  const at::Tensor& w_out = linears_.back()->weight;  // [d, hidden]: row i is output i's
  const at::Tensor out = linears_.back()->forward(x).view({q.size(0), q.size(1), options_.coordinates()});
  return {out, at::mv(tangent.reshape({batch, -1}), w_out.reshape({-1}))};
}

std::pair<at::Tensor, at::Tensor> MlpNetworkImpl::forward_and_jacobian(const at::Tensor& x, const at::Tensor& t,
                                                                       const InputFeatures& features) {
  if (features || options_.extra_inputs() != 0) return QNetworkImpl::forward_and_jacobian(x, t, features);
  PHASEGEN_CHECK(x.dim() == 3 && t.dim() == 1 && t.size(0) == x.size(0),
                 "network Jacobian: expected states [batch, N, c] and times [batch], but got ", x.sizes(), " and ", t.sizes());
  at::NoGradGuard no_grad;
  // Blocks of events keep the tangents [rows, D, hidden] small.
  constexpr std::int64_t kEventsPerBlock = 1024;
  const at::Tensor& w_out = linears_.back()->weight;  // [D, hidden]
  std::vector<at::Tensor> outs, jacobians;
  for (std::int64_t start = 0; start < x.size(0); start += kEventsPerBlock) {
    const std::int64_t n = std::min(kEventsPerBlock, x.size(0) - start);
    const at::Tensor xb = x.narrow(0, start, n);
    auto [h, tangent] = hidden_with_tangents(xb, t.narrow(0, start, n));
    outs.push_back(linears_.back()->forward(h).view({n, x.size(1), options_.coordinates()}));
    // tangent[b, j, :] is d h / d x_j, so (tangent w_out^T)[b, j, i] = d v_i / d x_j.
    jacobians.push_back(at::matmul(tangent, w_out.t()).transpose(1, 2).contiguous());
  }
  return {at::cat(outs), at::cat(jacobians)};
}

TransformerNetworkImpl::TransformerNetworkImpl(const NetworkOptions& options) : options_(options) {
  options_.validate();
  const std::int64_t d = options_.model_dim();
  embed_ = register_module("embed", torch::nn::Linear(7 + options_.extra_inputs() + options_.time_embedding(), d));
  for (std::int64_t i = 0; i < options_.blocks(); ++i) {
    const std::string name = "block" + std::to_string(i) + "_";
    Block b;
    b.norm1 = register_module(name + "norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    b.qkv = register_module(name + "qkv", torch::nn::Linear(d, 3 * d));
    b.proj = register_module(name + "proj", torch::nn::Linear(d, d));
    b.norm2 = register_module(name + "norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    b.up = register_module(name + "up", torch::nn::Linear(d, 4 * d));
    b.down = register_module(name + "down", torch::nn::Linear(4 * d, d));
    blocks_.push_back(b);
  }
  final_norm_ = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  head_ = register_module("head", torch::nn::Linear(d, 3));
  zero_init(head_);
  if (options_.pair_bias()) {
    const std::int64_t w = options_.pair_hidden();
    pair_mlp_ = register_module(
        "pair_mlp", torch::nn::Sequential(torch::nn::Linear(5, w), torch::nn::SiLU(), torch::nn::Linear(w, w),
                                          torch::nn::SiLU(), torch::nn::Linear(w, options_.heads() * options_.blocks())));
  }
}

void TransformerNetworkImpl::reset_parameters(at::Generator& gen) {
  uniform_init(embed_, gen);
  for (auto& b : blocks_) {
    identity_init(b.norm1);
    identity_init(b.norm2);
    uniform_init(b.qkv, gen);
    uniform_init(b.proj, gen);
    uniform_init(b.up, gen);
    uniform_init(b.down, gen);
  }
  identity_init(final_norm_);
  zero_init(head_);
  if (pair_mlp_) {
    for (std::size_t i = 0; i < pair_mlp_->size(); ++i) {
      if (auto* linear = pair_mlp_[i]->as<torch::nn::LinearImpl>()) uniform_init(*linear, gen);
    }
  }
}

at::Tensor TransformerNetworkImpl::forward(const at::Tensor& q, const at::Tensor& t) {
  check_input(q, t, options_);
  const std::int64_t batch = q.size(0), n = q.size(1), d = options_.model_dim(), h = options_.heads();
  at::Tensor v = q.narrow(2, 0, 3);
  at::Tensor r = v.norm(2, 2, true);
  at::Tensor features = at::cat({v, v / r.clamp_min(1e-12), at::log(r.clamp_min(1e-12)), q.narrow(2, 3, options_.extra_inputs()),
                                 sinusoidal_embedding(t, options_.time_embedding()).unsqueeze(1).expand({-1, n, -1})},
                                2);
  at::Tensor x = embed_->forward(features);  // [B, N, d]
  const double scale = 1.0 / std::sqrt(static_cast<double>(d / h));
  // Pair biases [blocks, B, h, N, N], from the invariants in double precision.
  at::Tensor biases;
  if (pair_mlp_) {
    const at::Tensor pairs = pair_features(v.to(at::kDouble)).to(v.scalar_type());
    biases = pair_mlp_->forward(pairs).view({batch, n, n, options_.blocks(), h}).permute({3, 0, 4, 1, 2});
  }
  for (std::size_t k = 0; k < blocks_.size(); ++k) {
    Block& b = blocks_[k];
    at::Tensor qkv = b.qkv->forward(b.norm1->forward(x)).view({batch, n, 3, h, d / h}).permute({2, 0, 3, 1, 4});
    at::Tensor logits = at::matmul(qkv[0], qkv[1].transpose(-2, -1)) * scale;
    if (biases.defined()) logits = logits + biases[static_cast<std::int64_t>(k)];
    at::Tensor attention = at::softmax(logits, -1);
    at::Tensor mixed = at::matmul(attention, qkv[2]).transpose(1, 2).reshape({batch, n, d});
    x = x + b.proj->forward(mixed);
    at::Tensor up = b.up->forward(b.norm2->forward(x));
    x = x + b.down->forward(at::GradMode::is_enabled() ? F::silu(up) : at::silu_(up));
  }
  return head_->forward(final_norm_->forward(x));
}

QNetwork make_network(const NetworkOptions& options, std::uint64_t seed) {
  options.validate();
  std::shared_ptr<QNetworkImpl> net;
  if (options.kind() == NetworkKind::kMlp) {
    net = std::make_shared<MlpNetworkImpl>(options);
  } else {
    net = std::make_shared<TransformerNetworkImpl>(options);
  }
  at::Generator gen = at::detail::createCPUGenerator(seed);
  net->reset_parameters(gen);
  return QNetwork(net);
}

std::int64_t parameter_count(const torch::nn::Module& module) {
  std::int64_t count = 0;
  for (const auto& p : module.parameters()) count += p.numel();
  return count;
}

}  // namespace phasegen
