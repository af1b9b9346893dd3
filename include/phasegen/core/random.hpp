// Random streams: seeded generators, and the one registry of what each stream is for.
//
//   at::Generator step = phasegen::stream_generator(seed, phasegen::Stream::kTrainStep, step_index);
//
// A seed a user gives is used raw by one use only per command (listed below); every other use draws
// from the stream (seed, purpose, index), a splitmix64 mix of the three, so that no two uses share
// numbers and each stream is reproducible on its own. Raw seeds:
//   train    the network's initial weights (Model's seed)
//   sample   the events, with one worker and one shard
//   data     the events of a data set (its --test-seed for the test set)
//   eval     the classifier's draws and initial weights
//   phasespace  the events
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace phasegen {

/// A seeded random generator on the CPU.
at::Generator make_generator(std::uint64_t seed);
/// A seeded random generator on `device` (CPU or CUDA).
at::Generator make_generator(std::uint64_t seed, const at::Device& device);

/// The purposes of derived streams. The numbers are part of the reproducibility contract: a run's
/// numbers depend on them, so they never change and are never reused.
enum class Stream : std::uint64_t {
  kTrainSplit = 1,       ///< the validation split (index 0)
  kTrainEpoch = 2,       ///< the minibatch order of each epoch (index: epoch)
  kTrainStep = 3,        ///< lifts, times and noise of one step (index: step)
  kTrainValidation = 4,  ///< the validation loss (index 0)
  kTrainStepPart = 5,    ///< part k of a step split over workers or processes (index: step x parts + k)
  kGaussianFit = 6,      ///< the lift of the data a flow model's Gaussian prior is fitted to (index 0)
  kTrainPrepare = 7,     ///< the lift of the training events done once before training (index 0)
  kSamplePart = 11,      ///< part k of batch b sampled by W workers (index: b x W + k)
  kSampleShard = 12,     ///< shard i of a sharded sampling run: its seed (index: i)
  kEvalFlat = 21,        ///< the flat phase-space reference drawn in eval's figures (index 0)
  kIntegrateFlat = 31,       ///< integrate: the flat phase-space baseline (index 0)
  kIntegrateGenerator = 32,  ///< integrate: the target generator's own mapping (index 0)
  kWeightedRound = 33,       ///< weighted sampling: the draws of round r after the first (index: r)
  kUnweightFirstPass = 34,   ///< unweighting: the first pass that finds the largest weight (index 0)
  kUnweightAccept = 35,      ///< unweighting: the accept / reject draws of round r (index: r)
};

/// The seed of stream (seed, purpose, index).
std::uint64_t stream_seed(std::uint64_t seed, Stream purpose, std::uint64_t index);
/// A generator on `device` seeded with stream_seed(seed, purpose, index).
at::Generator stream_generator(std::uint64_t seed, Stream purpose, std::uint64_t index,
                               const at::Device& device = at::kCPU);

}  // namespace phasegen
