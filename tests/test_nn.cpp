#include "phasegen/models/nn.hpp"

#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/init.h>

#include <cmath>
#include <cstdlib>

#include "phasegen/core/runtime.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

// Gives every parameter, the zero-initialised output layer included, random values.
void randomise(torch::nn::Module& net, std::uint64_t seed) {
  at::Generator gen = make_generator(seed);
  at::NoGradGuard no_grad;
  for (auto& p : net.parameters()) p.copy_(at::randn(p.sizes(), gen, p.options()) * 0.3);
}

TEST(Networks, OutputsHaveTheShapeOfQAndStartAtZero) {
  at::Generator gen = make_generator(1);
  for (const std::string kind : {"mlp", "transformer"}) {
    auto net = make_network(NetworkOptions().kind(kNetworkKindNames.parse(kind)).particles(4).hidden(32).layers(2).model_dim(16).blocks(2).heads(2));
    at::Tensor q = sample_rambo_prior(8, 4, gen, at::kFloat);
    at::Tensor out = net->forward(q, at::rand({8}, gen));
    EXPECT_EQ(out.sizes(), q.sizes()) << kind;
    EXPECT_EQ(test::max_abs(out), 0.0) << kind << ": the output layer starts at zero";
    EXPECT_GT(parameter_count(*net), 0);
  }
  // The paper's MLP: 4 x 256 on 3N + 64 inputs.
  auto mlp = make_network(NetworkOptions().particles(3));
  const std::int64_t expected = (9 + 64) * 256 + 256 + 3 * (256 * 256 + 256) + 256 * 9 + 9;
  EXPECT_EQ(parameter_count(*mlp), expected);
}

// That permuting the 6 particles of q permutes net's outputs alike (and the outputs are not zero).
void expect_equivariant(QNetworkImpl& net, const at::Tensor& q, const at::Tensor& t) {
  at::Tensor perm = at::tensor(std::vector<std::int64_t>{4, 2, 0, 5, 1, 3});
  at::Tensor out = net.forward(q, t);
  at::Tensor permuted = net.forward(q.index_select(1, perm), t);
  EXPECT_GT(test::max_abs(out), 1e-2);
  EXPECT_LE(test::max_abs(permuted - out.index_select(1, perm)), 1e-5);
}

TEST(Networks, TransformerIsPermutationEquivariant) {
  auto net = make_network(NetworkOptions().kind(NetworkKind::kTransformer).particles(6).model_dim(32).blocks(2).heads(4));
  randomise(*net, 2);
  at::Generator gen = make_generator(3);
  at::Tensor q = sample_rambo_prior(16, 6, gen, at::kFloat);
  at::Tensor t = at::rand({16}, gen);
  expect_equivariant(*net, q, t);
}

TEST(Networks, BadOptionsAndShapesAreRefused) {
  EXPECT_ERROR_CONTAINS(kNetworkKindNames.parse("resnet"), "network: unknown network 'resnet': expected mlp or transformer");
  EXPECT_ERROR_CONTAINS(make_network(NetworkOptions().kind(NetworkKind::kTransformer).model_dim(30).heads(4)),
                        "expected d_model divisible by heads");
  EXPECT_ERROR_CONTAINS(make_network(NetworkOptions().time_embedding(7)), "expected an even time embedding");
  auto net = make_network(NetworkOptions().particles(3).hidden(8).layers(1));
  EXPECT_ERROR_CONTAINS(net->forward(at::zeros({2, 4, 3}), at::zeros({2})), "expected q of shape [batch, 3, 3]");
  EXPECT_ERROR_CONTAINS(net->forward(at::zeros({2, 3, 3}), at::zeros({3})), "expected t of shape [2]");
}

TEST(Networks, SinusoidalEmbeddingSeparatesTimes) {
  at::Tensor e = sinusoidal_embedding(at::tensor(std::vector<float>{0.0f, 0.5f, 1.0f}), 64);
  EXPECT_EQ(e.sizes(), (at::IntArrayRef{3, 64}));
  EXPECT_NEAR(e[0].narrow(0, 32, 32).sum().item<double>(), 32.0, 1e-6);  // cos(0) = 1
  EXPECT_GT((e[1] - e[2]).norm().item<double>(), 1.0);
}

TEST(Runtime, FreedMemoryIsRetainedAndAUsersKernelChoiceIsKept) {
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer's allocator takes no mallopt
  EXPECT_TRUE(retain_freed_memory()) << "glibc refused the mmap or trim threshold";
#endif
  ASSERT_EQ(setenv("ATEN_CPU_CAPABILITY", "default", 1), 0);
  EXPECT_FALSE(prefer_avx512_kernels());
  EXPECT_STREQ(std::getenv("ATEN_CPU_CAPABILITY"), "default");
  unsetenv("ATEN_CPU_CAPABILITY");
}

TEST(Networks, SamplingPathOfTheMlpEqualsTheTrainingPath) {
  // Without a graph, a shared time is folded into the first layer's bias and large batches go in
  // blocks of rows: the same outputs as the plain product over [q, embedding(t)].
  auto net = make_network(NetworkOptions().particles(3).hidden(32).layers(3).time_embedding(16));
  randomise(*net, 4);
  at::Generator gen = make_generator(5);
  const std::int64_t batch = 5000;  // more than two blocks
  at::Tensor q = sample_rambo_prior(batch, 3, gen, at::kFloat);
  for (const at::Tensor& t : {at::full({1}, 0.37f).expand({batch}), at::rand({batch}, gen)}) {
    at::Tensor with_graph;
    {
      at::AutoGradMode graph(true);
      with_graph = net->forward(q, t.contiguous()).detach();  // contiguous: no folding either
    }
    at::NoGradGuard no_grad;
    at::Tensor sampled = net->forward(q, t);
    EXPECT_GT(test::max_abs(with_graph), 1e-2);
    EXPECT_LE(test::max_abs(sampled - with_graph), 2e-6 * test::max_abs(with_graph));
  }
}

TEST(Networks, SiluWithTangentsHasTheGradientsOfItsFormula) {
  // The fused operation against the same formulas as separate LibTorch operations, in double, for
  // tangents per example and shared by the batch (a first layer's weight columns).
  at::Generator gen = make_generator(6);
  for (const std::int64_t rows : {7, 1}) {
    at::Tensor z = (at::randn({7, 12}, gen, at::kDouble) * 2.0).requires_grad_(true);
    at::Tensor dz = at::randn({rows, 5, 12}, gen, at::kDouble).requires_grad_(true);
    const at::Tensor gx = at::randn({7, 12}, gen, at::kDouble), gt = at::randn({7, 5, 12}, gen, at::kDouble);
    auto [x, tangents] = silu_with_tangents(z, dz);
    const auto fused = torch::autograd::grad({x, tangents}, {z, dz}, {gx, gt});
    const at::Tensor sig = at::sigmoid(z);
    const at::Tensor x_ref = z * sig, tangents_ref = dz * (sig * (1.0 + z * (1.0 - sig))).unsqueeze(1);
    const auto by_formula = torch::autograd::grad({x_ref, tangents_ref}, {z, dz}, {gx, gt});
    EXPECT_LE(test::max_abs(x - x_ref), 1e-14);
    EXPECT_LE(test::max_abs(tangents - tangents_ref), 1e-14);
    for (std::size_t i = 0; i < 2; ++i) {
      EXPECT_GT(test::max_abs(by_formula[i]), 0.1);
      EXPECT_LE(test::max_abs(fused[i] - by_formula[i]), 1e-12 * test::max_abs(by_formula[i])) << "rows " << rows << " input " << i;
    }
  }
  EXPECT_ERROR_CONTAINS(silu_with_tangents(at::zeros({2, 3}), at::zeros({2, 4, 5})),
                        "expected z [batch, width] and dz [batch or 1, columns, width]");
}

}  // namespace
}  // namespace phasegen

namespace phasegen {
namespace {

TEST(Networks, ExtraInputsAreReadBesideTheStateAndCarryNoGradient) {
  for (const char* kind : {"mlp", "transformer"}) {
    auto net = make_network(NetworkOptions().kind(kNetworkKindNames.parse(kind)).particles(4).hidden(16).layers(2).model_dim(16).blocks(1)
                                .heads(2).time_embedding(8).extra_inputs(4),
                            1);
    at::Generator gen = make_generator(2);
    {
      at::NoGradGuard no_grad;
      for (auto& p : net->parameters()) p.copy_(at::randn(p.sizes(), gen, p.options()) * 0.3);
    }
    at::Tensor x = at::randn({5, 4, 3}, gen).requires_grad_(true);
    at::Tensor t = at::rand({5}, gen);
    auto features = [](const at::Tensor& s) { return at::cat({s.norm(2, 2, true), s}, 2); };
    at::Tensor out = net->forward_with(x, t, features);
    EXPECT_EQ(out.sizes(), x.sizes()) << kind;
    // The features change the output, and no gradient flows through them.
    at::Tensor plain = net->forward(at::cat({x.detach(), at::zeros({5, 4, 4})}, 2), t);
    EXPECT_GT(test::max_abs(out.detach() - plain), 1e-6) << kind;
    EXPECT_ERROR_CONTAINS(net->forward(x.detach(), t), "expected q of shape [batch, 4, 7]");
  }
}

// Pair biases come from the pair's invariants, which a permutation of the particles permutes:
// the transformer with them stays permutation-equivariant, and the biases change its output.
TEST(Networks, PairBiasedTransformerIsPermutationEquivariant) {
  NetworkOptions options = NetworkOptions().kind(NetworkKind::kTransformer).particles(6).model_dim(32).blocks(2).heads(4);
  auto net = make_network(NetworkOptions(options).pair_bias(true).pair_hidden(16));
  auto plain = make_network(options);
  randomise(*net, 2);
  at::Generator gen = make_generator(3);
  at::Tensor q = sample_rambo_prior(16, 6, gen, at::kFloat);
  q.select(1, 1).copy_(q.select(1, 0) * 1.001);  // a nearly collinear pair
  at::Tensor t = at::rand({16}, gen);
  expect_equivariant(*net, q, t);
  EXPECT_GT(parameter_count(*net), parameter_count(*plain));
  // The same weights but the pair MLP's last layer at zero give the unbiased network's output.
  {
    at::NoGradGuard no_grad;
    auto named = net->named_parameters();
    auto plain_named = plain->named_parameters();
    for (auto& item : plain_named) item.value().copy_(named[item.key()]);
    for (auto& item : named) {
      if (item.key().rfind("pair_mlp.4.", 0) == 0) item.value().zero_();
    }
  }
  EXPECT_LE(test::max_abs(net->forward(q, t) - plain->forward(q, t)), 1e-6);
  // Features: symmetric in the pair, the diagonal flagged.
  at::Tensor f = pair_features(q.to(at::kDouble));
  ASSERT_EQ(f.sizes(), (at::IntArrayRef{16, 6, 6, 5}));
  EXPECT_LE(test::max_abs(f - f.transpose(1, 2)), 1e-14);
  EXPECT_EQ(f.select(3, 4).sum().item<double>(), 16.0 * 6.0);
  EXPECT_LT(f.select(3, 1).select(2, 1).select(1, 0).max().item<double>(), std::log(1e-4) / 10.0);
  EXPECT_ERROR_CONTAINS(make_network(NetworkOptions().pair_bias(true)), "pair_bias needs network = transformer");
}

}  // namespace
}  // namespace phasegen
