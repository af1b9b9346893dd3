// Data-parallel training over processes with LibTorch's distributed engine (c10d, Gloo): each
// process ("rank") computes the gradient of its share of every minibatch, the shares are summed by
// an all-reduce, and every rank takes the same optimiser step.
//
// The processes meet through the environment that the launchers set:
//   torchrun:  RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT
//   Slurm/srun: SLURM_PROCID, SLURM_NTASKS (SLURM_STEP_NUM_TASKS), SLURM_LOCALID, SLURM_NTASKS_PER_NODE,
//               with MASTER_ADDR (and MASTER_PORT) exported by the job script
//
//   std::optional<phasegen::Launch> launch = phasegen::launch_from_environment();
//   if (launch) options.processes = phasegen::ProcessGroup::connect(*launch);
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace phasegen {

/// Where this process stands among the processes of one run, and where they meet.
struct Launch {
  int rank = 0;
  int size = 1;
  int local_rank = 0;   ///< rank among the processes on this machine (which GPU, which cores)
  int local_size = 1;   ///< processes on this machine
  std::string address;  ///< the host of rank 0's rendezvous store (MASTER_ADDR)
  int port = 29500;     ///< its port (MASTER_PORT)
  std::string source;   ///< "torchrun variables" or "Slurm variables"
  double timeout_s = 600;  ///< waiting for the others, at the rendezvous and at every all-reduce
};

inline constexpr int kDefaultMasterPort = 29500;

/// The launch an environment describes: nullopt for one process (no variables, or a size of 1).
/// RANK / WORLD_SIZE win over Slurm's variables; PHASEGEN_DISTRIBUTED_TIMEOUT (seconds) sets the
/// timeout. Throws phasegen::Error naming the variable that is missing or malformed.
std::optional<Launch> launch_from_environment(const std::map<std::string, std::string>& environment);
std::optional<Launch> launch_from_environment();  ///< of this process

/// Whether this build can run on several processes (LibTorch with Gloo, and its headers at build time).
bool distributed_available();

/// The processes of one run, connected: rank 0 serves the rendezvous store at address:port, every
/// rank connects to it, and they talk over Gloo's TCP transport (the interface of GLOO_SOCKET_IFNAME
/// where set, else this machine's host name). Operations are collective: every rank calls them, in
/// the same order.
class ProcessGroup {
 public:
  /// Blocks until all launch.size processes have arrived or the timeout has passed (an error
  /// naming the address, the port and the count).
  static std::shared_ptr<ProcessGroup> connect(const Launch& launch);
  ~ProcessGroup();

  int rank() const { return launch_.rank; }
  int size() const { return launch_.size; }
  const Launch& launch() const { return launch_; }

  /// Replaces `values` (a contiguous CPU tensor) by its sum over the ranks.
  void all_reduce_sum(at::Tensor& values);
  /// Replaces `values` (a contiguous CPU tensor) on every rank by rank `root`'s.
  void broadcast(at::Tensor& values, int root = 0);

 private:
  struct Impl;
  explicit ProcessGroup(Launch launch);
  Launch launch_;
  std::unique_ptr<Impl> impl_;
};

/// The all-reduce of one data-parallel step: every rank's gradients of `params` and its `loss`
/// become their sums over the ranks, in one buffer of the gradients' type (two ranks' sums are then
/// the sums one process makes of its two parts, to the bit); returns whether any rank asked to stop.
bool all_reduce_step(ProcessGroup& processes, const std::vector<at::Tensor>& params, at::Tensor& loss, bool stop);

/// Every rank's `tensors` take rank 0's values (the weights at the start of a run).
void broadcast_from_rank_zero(ProcessGroup& processes, const std::vector<at::Tensor>& tensors);

}  // namespace phasegen
