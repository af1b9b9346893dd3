#include "phasegen/core/random.hpp"

#include <ATen/CPUGeneratorImpl.h>

namespace phasegen {

at::Generator make_generator(std::uint64_t seed) { return at::detail::createCPUGenerator(seed); }

at::Generator make_generator(std::uint64_t seed, const at::Device& device) {
  if (device.is_cpu()) return make_generator(seed);
  at::Generator gen = at::globalContext().defaultGenerator(device).clone();
  gen.set_current_seed(seed);
  return gen;
}

std::uint64_t stream_seed(std::uint64_t seed, Stream purpose, std::uint64_t index) {
  const auto p = static_cast<std::uint64_t>(purpose);
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ULL + p * 0xBF58476D1CE4E5B9ULL + index + 0x94D049BB133111EBULL;
  for (int i = 0; i < 2; ++i) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
  }
  return z;
}

at::Generator stream_generator(std::uint64_t seed, Stream purpose, std::uint64_t index, const at::Device& device) {
  return make_generator(stream_seed(seed, purpose, index), device);
}

}  // namespace phasegen
