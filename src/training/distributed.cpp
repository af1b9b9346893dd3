#include "phasegen/training/distributed.hpp"

#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <utility>
#include <vector>

#include "phasegen/core/error.hpp"

#ifdef PHASEGEN_HAVE_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

extern char** environ;

namespace phasegen {

namespace {

using Environment = std::map<std::string, std::string>;

std::optional<std::string> lookup(const Environment& environment, const std::string& key) {
  auto it = environment.find(key);
  if (it == environment.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

int integer(const Environment& environment, const std::string& key, int lowest) {
  const std::string text = lookup(environment, key).value_or("");
  const std::optional<std::int64_t> value = to_int(text);
  PHASEGEN_CHECK(value && *value >= lowest && *value <= 1000000, "environment variable ", key,
                 ": expected a whole number >= ", lowest, ", but got '", text, "'");
  return static_cast<int>(*value);
}

int integer_or(const Environment& environment, const std::string& key, int lowest, int fallback) {
  return lookup(environment, key) ? integer(environment, key, lowest) : fallback;
}

// Slurm writes tasks per node as "4", "2(x3)" or "2(x3),1": the first node's count.
int leading_count(const Environment& environment, const std::string& key) {
  const std::string text = lookup(environment, key).value_or("");
  const std::size_t end = text.find_first_not_of("0123456789");
  Environment first{{key, text.substr(0, end)}};
  return integer(first, key, 1);
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// LibTorch logs a failed connection itself (glog's ERROR lines, or c10's own log where LibTorch has
// no glog) before it throws; the error this file throws says it once, clearly. Found at run time:
// the variables exist only in the logging library the LibTorch in use was built with.
class QuietLibraryLog {
 public:
  QuietLibraryLog() {
    for (const char* name : {"_ZN3fLI17FLAGS_minloglevelE", "_ZN3c1022FLAGS_caffe2_log_levelE"}) {
      auto* level = reinterpret_cast<std::int32_t*>(dlsym(RTLD_DEFAULT, name));
      if (level == nullptr) continue;
      saved_.emplace_back(level, *level);
      *level = kFatal;
    }
  }
  ~QuietLibraryLog() {
    for (auto& [level, value] : saved_) *level = value;
  }
  QuietLibraryLog(const QuietLibraryLog&) = delete;
  QuietLibraryLog& operator=(const QuietLibraryLog&) = delete;

 private:
  static constexpr std::int32_t kFatal = 3;
  std::vector<std::pair<std::int32_t*, std::int32_t>> saved_;
};

}  // namespace

std::optional<Launch> launch_from_environment(const Environment& environment) {
  Launch launch;
  if (lookup(environment, "WORLD_SIZE")) {
    launch.size = integer(environment, "WORLD_SIZE", 1);
    if (launch.size == 1) return std::nullopt;
    PHASEGEN_CHECK(lookup(environment, "RANK"), "environment variable RANK: expected this process's rank, since WORLD_SIZE = ",
                   launch.size);
    launch.rank = integer(environment, "RANK", 0);
    launch.local_rank = integer_or(environment, "LOCAL_RANK", 0, 0);
    launch.local_size = integer_or(environment, "LOCAL_WORLD_SIZE", 1, 1);
    launch.source = "torchrun variables";
  } else if (lookup(environment, "SLURM_PROCID") &&
             (lookup(environment, "SLURM_STEP_NUM_TASKS") || lookup(environment, "SLURM_NTASKS"))) {
    const std::string size_key = lookup(environment, "SLURM_STEP_NUM_TASKS") ? "SLURM_STEP_NUM_TASKS" : "SLURM_NTASKS";
    launch.size = integer(environment, size_key, 1);
    if (launch.size == 1) return std::nullopt;
    launch.rank = integer(environment, "SLURM_PROCID", 0);
    launch.local_rank = integer_or(environment, "SLURM_LOCALID", 0, 0);
    for (const char* key : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
      if (!lookup(environment, key)) continue;
      launch.local_size = leading_count(environment, key);
      break;
    }
    launch.source = "Slurm variables";
  } else {
    return std::nullopt;
  }
  PHASEGEN_CHECK(launch.rank < launch.size, "rank ", launch.rank, " (", launch.source,
                 "): expected a rank below the process count ", launch.size);
  const std::optional<std::string> address = lookup(environment, "MASTER_ADDR");
  PHASEGEN_CHECK(address, "environment variable MASTER_ADDR: expected the host of rank 0 for the ", launch.size,
                 " processes (", launch.source,
                 "); under Slurm, e.g. export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)"
                 "; for one process, set WORLD_SIZE=1");
  launch.address = *address;
  launch.port = integer_or(environment, "MASTER_PORT", 1, kDefaultMasterPort);
  PHASEGEN_CHECK(launch.port <= 65535, "environment variable MASTER_PORT: expected a port up to 65535, but got ",
                 launch.port);
  launch.timeout_s = integer_or(environment, "PHASEGEN_DISTRIBUTED_TIMEOUT", 1, 600);
  return launch;
}

std::optional<Launch> launch_from_environment() {
  Environment environment;
  for (char** entry = environ; entry && *entry; ++entry) {
    const std::string text = *entry;
    const std::size_t equals = text.find('=');
    if (equals != std::string::npos) environment.emplace(text.substr(0, equals), text.substr(equals + 1));
  }
  return launch_from_environment(environment);
}

#ifdef PHASEGEN_HAVE_GLOO

bool distributed_available() { return true; }

namespace {

// A rendezvous that failed: rank 0 could not serve its store (a port in use, say), or the
// processes did not all arrive in time.
[[noreturn]] void not_met(const Launch& launch, const std::exception& e, bool serving) {
  const std::string why = first_line(e.what());
  if (serving) {
    throw Error(detail::concat("rank 0 of ", launch.size, ": cannot serve the rendezvous on port ", launch.port,
                               why.find("Address already in use") != std::string::npos
                                   ? " (in use: choose another MASTER_PORT)"
                                   : "",
                               " (", launch.source, "): ", why));
  }
  throw Error(detail::concat("rank ", launch.rank, " of ", launch.size, ": the processes did not all meet at ",
                             launch.address, ":", launch.port, " within ", launch.timeout_s, " s (", launch.source,
                             "; is every rank started, rank 0 on that host, the port free? GLOO_SOCKET_IFNAME names "
                             "the network interface; PHASEGEN_DISTRIBUTED_TIMEOUT the wait): ",
                             why));
}

}  // namespace

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

ProcessGroup::ProcessGroup(Launch launch) : launch_(std::move(launch)), impl_(std::make_unique<Impl>()) {}

ProcessGroup::~ProcessGroup() = default;

std::shared_ptr<ProcessGroup> ProcessGroup::connect(const Launch& launch) {
  std::shared_ptr<ProcessGroup> processes(new ProcessGroup(launch));
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(launch.timeout_s * 1000));
  const QuietLibraryLog quiet;
  c10d::TCPStoreOptions store;
  store.port = static_cast<std::uint16_t>(launch.port);
  store.isServer = launch.rank == 0;
  store.numWorkers = static_cast<std::size_t>(launch.size);
  store.waitWorkers = true;
  store.timeout = timeout;
  const auto start = std::chrono::steady_clock::now();
  try {
    processes->impl_->store = c10::make_intrusive<c10d::TCPStore>(launch.address, store);
  } catch (const std::exception& e) {
    // Rank 0 fails at once where it cannot listen, and only at the timeout where others are missing.
    not_met(launch, e, launch.rank == 0 && std::chrono::steady_clock::now() - start < timeout / 2);
  }
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
    options->devices.push_back(interface && *interface ? c10d::ProcessGroupGloo::createDeviceForInterface(interface)
                                                       : c10d::ProcessGroupGloo::createDefaultDevice());
    options->threads = 1;
    processes->impl_->group =
        c10::make_intrusive<c10d::ProcessGroupGloo>(processes->impl_->store, launch.rank, launch.size, options);
  } catch (const std::exception& e) {
    not_met(launch, e, false);
  }
  return processes;
}

namespace {

// A collective's failure: a peer that died or stalled (its own error is in its own log).
[[noreturn]] void lost_peers(const Launch& launch, const char* operation, const std::exception& e) {
  throw Error(detail::concat("rank ", launch.rank, " of ", launch.size, ": ", operation,
                             " failed; another process stopped or waited more than ", launch.timeout_s,
                             " s (see its own message): ", first_line(e.what())));
}

void check_host_tensor(const at::Tensor& values) {
  PHASEGEN_CHECK(values.device().is_cpu() && values.is_contiguous(),
                 "distributed: expected a contiguous CPU tensor, but got one on ", values.device());
}

}  // namespace

void ProcessGroup::all_reduce_sum(at::Tensor& values) {
  check_host_tensor(values);
  std::vector<at::Tensor> tensors{values};
  try {
    impl_->group->allreduce(tensors)->wait();
  } catch (const std::exception& e) {
    lost_peers(launch_, "an all-reduce", e);
  }
}

void ProcessGroup::broadcast(at::Tensor& values, int root) {
  check_host_tensor(values);
  std::vector<at::Tensor> tensors{values};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  try {
    impl_->group->broadcast(tensors, options)->wait();
  } catch (const std::exception& e) {
    lost_peers(launch_, "a broadcast", e);
  }
}

#else  // no Gloo in this build

bool distributed_available() { return false; }

struct ProcessGroup::Impl {};

ProcessGroup::ProcessGroup(Launch launch) : launch_(std::move(launch)) {}

ProcessGroup::~ProcessGroup() = default;

std::shared_ptr<ProcessGroup> ProcessGroup::connect(const Launch& launch) {
  throw Error(detail::concat("rank ", launch.rank, " of ", launch.size, " (", launch.source,
                             "): this build of phasegen runs on one process only: it was built without Gloo's "
                             "headers (Debian: libgloo-dev; scripts/install-deps.sh installs it), so rebuild; "
                             "for one process, set WORLD_SIZE=1"));
}

void ProcessGroup::all_reduce_sum(at::Tensor&) { throw Error("distributed: this build has no Gloo"); }

void ProcessGroup::broadcast(at::Tensor&, int) { throw Error("distributed: this build has no Gloo"); }

#endif

bool all_reduce_step(ProcessGroup& processes, const std::vector<at::Tensor>& params, at::Tensor& loss, bool stop) {
  at::NoGradGuard no_grad;
  // One buffer, one all-reduce: the gradients, whether each rank has each gradient (a part may
  // leave one undefined), the loss and the stop requests; in the gradients' type (two ranks' sums
  // are then the sums one process makes of its two parts, to the bit).
  const auto count = static_cast<std::int64_t>(params.size());
  const at::ScalarType type = params.front().scalar_type();
  std::vector<double> flags(static_cast<std::size_t>(count) + 2, 0.0);
  std::vector<at::Tensor> pieces;
  for (std::int64_t i = 0; i < count; ++i) {
    const at::Tensor& grad = params[static_cast<std::size_t>(i)].grad();
    if (grad.defined()) flags[static_cast<std::size_t>(i)] = 1.0;
    pieces.push_back(grad.defined() ? grad.reshape(-1).to(at::kCPU, type)
                                    : at::zeros({params[static_cast<std::size_t>(i)].numel()}, type));
  }
  flags[static_cast<std::size_t>(count)] = loss.item<double>();
  flags[static_cast<std::size_t>(count) + 1] = stop ? 1.0 : 0.0;
  pieces.push_back(at::tensor(flags, at::kDouble).to(type));
  at::Tensor buffer = at::cat(pieces).contiguous();
  processes.all_reduce_sum(buffer);
  std::int64_t offset = 0;
  const at::Tensor reduced_flags = buffer.narrow(0, buffer.numel() - (count + 2), count + 2).to(at::kDouble);
  const double* flag = reduced_flags.data_ptr<double>();
  for (std::int64_t i = 0; i < count; ++i) {
    const at::Tensor& p = params[static_cast<std::size_t>(i)];
    const at::Tensor sum = buffer.narrow(0, offset, p.numel()).view(p.sizes());
    offset += p.numel();
    if (flag[i] == 0.0) continue;
    at::Tensor& grad = p.mutable_grad();
    if (grad.defined()) {
      grad.copy_(sum);
    } else {
      grad = sum.to(p.device(), p.scalar_type());
    }
  }
  loss = at::scalar_tensor(flag[count], loss.options());
  return flag[count + 1] > 0.0;
}

void broadcast_from_rank_zero(ProcessGroup& processes, const std::vector<at::Tensor>& tensors) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> flat;
  for (const auto& t : tensors) flat.push_back(t.reshape(-1).to(at::kCPU, at::kDouble));
  at::Tensor buffer = at::cat(flat).contiguous();
  processes.broadcast(buffer, 0);
  std::int64_t offset = 0;
  for (const auto& t : tensors) {
    t.copy_(buffer.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

}  // namespace phasegen
