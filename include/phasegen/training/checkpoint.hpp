// The checkpoint file: one LibTorch archive holding the resolved run card (the model's whole
// configuration), the record of the training data, what the model fitted to it, the weights (and
// EMA weights and optimiser state of a training run), the step, the loss curves, and the version
// and commit that wrote it. Written atomically; read with one clear message for a missing,
// truncated, foreign or older file.
//
//   phasegen::CheckpointReader in("m.ckpt");
//   phasegen::ModelSpec spec = phasegen::ModelSpec::from_card_text(in.record().card, "m.ckpt");
#pragma once

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "phasegen/models/model.hpp"
#include "phasegen/models/nn.hpp"

namespace phasegen {

/// This version's format; files of format 1 (phasegen 0.1) are refused with a line saying so.
inline constexpr const char* kCheckpointFormat = "phasegen-checkpoint-2";

/// What a checkpoint says besides its tensors of weights and optimiser state.
struct CheckpointRecord {
  std::string card;                ///< the resolved run card: [model], and [train] for a training run
  std::string data_path;           ///< the training events
  std::int64_t data_events = 0;
  std::int64_t particles = 0;      ///< N
  double sqrt_s = 0.0;             ///< GeV
  std::vector<int> pdg_ids;
  FittedState fitted;
  std::int64_t step = 0;
  std::uint64_t seed = 0;          ///< of the training run
  std::string version, commit;     ///< of the phasegen that wrote it (filled in on writing)
  std::vector<std::pair<std::int64_t, double>> train_curve;
  std::vector<std::pair<std::int64_t, double>> validation_curve;
};

/// Writes a checkpoint atomically (the previous file stays until the new one is complete): the
/// record, the weights of `net`, the EMA weights (none: empty) and the optimiser state (none: null).
void write_checkpoint(const std::string& path, const CheckpointRecord& record, const QNetworkImpl& net,
                      const std::vector<at::Tensor>& ema = {}, const torch::optim::Optimizer* optimizer = nullptr);

class CheckpointReader {
 public:
  /// Opens `path` with its tensors on `device`; throws phasegen::Error for a missing, truncated,
  /// foreign or older-format file.
  explicit CheckpointReader(std::string path, const at::Device& device = at::kCPU);

  const CheckpointRecord& record() const { return record_; }
  const std::string& path() const { return path_; }
  /// Loads the weights into `net` (EMA weights instead where there are some and `ema` is set);
  /// returns whether the EMA weights were taken.
  bool load_weights(QNetworkImpl& net, bool ema) const;
  /// The EMA weights into `ema` (one tensor per parameter); false where the file has none.
  bool load_ema(std::vector<at::Tensor>& ema) const;
  /// The optimiser state; throws where the file has none (a model saved without training).
  void load_optimizer(torch::optim::Optimizer& optimizer) const;

 private:
  std::string path_;
  std::shared_ptr<torch::serialize::InputArchive> archive_;
  CheckpointRecord record_;
};

}  // namespace phasegen
