#include "phasegen/nn.hpp"

#include <torch/nn/init.h>

#include "phasegen/phasespace.hpp"
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
    auto net = make_network(NetworkOptions().kind(kind).particles(4).hidden(32).layers(2).model_dim(16).blocks(2).heads(2));
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

TEST(Networks, TransformerIsPermutationEquivariant) {
  auto net = make_network(NetworkOptions().kind("transformer").particles(6).model_dim(32).blocks(2).heads(4));
  randomise(*net, 2);
  at::Generator gen = make_generator(3);
  at::Tensor q = sample_rambo_prior(16, 6, gen, at::kFloat);
  at::Tensor t = at::rand({16}, gen);
  at::Tensor perm = at::tensor(std::vector<std::int64_t>{4, 2, 0, 5, 1, 3});
  at::Tensor out = net->forward(q, t);
  at::Tensor permuted = net->forward(q.index_select(1, perm), t);
  EXPECT_GT(test::max_abs(out), 1e-2);
  EXPECT_LE(test::max_abs(permuted - out.index_select(1, perm)), 1e-5);
}

TEST(Networks, BadOptionsAndShapesAreRefused) {
  EXPECT_ERROR_CONTAINS(make_network(NetworkOptions().kind("resnet")), "unknown network 'resnet'");
  EXPECT_ERROR_CONTAINS(make_network(NetworkOptions().kind("transformer").model_dim(30).heads(4)),
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

}  // namespace
}  // namespace phasegen

namespace phasegen {
namespace {

TEST(Networks, ExtraInputsAreReadBesideTheStateAndCarryNoGradient) {
  for (const char* kind : {"mlp", "transformer"}) {
    auto net = make_network(NetworkOptions().kind(kind).particles(4).hidden(16).layers(2).model_dim(16).blocks(1)
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

}  // namespace
}  // namespace phasegen
