// phasegen train: any model family (kind = langevin, flow, vp, or the p-space baselines pflow and
// pddpm), trained from a run card.
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "cli_support.hpp"
#include "commands.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/core/parallel.hpp"
#include "phasegen/io/card.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/models/model.hpp"
#include "phasegen/models/spec.hpp"
#include "phasegen/training/distributed.hpp"
#include "phasegen/training/train.hpp"

namespace phasegen::cli {

namespace {

struct TrainFlags {
  std::string card;
  bool dry_run = false;
  bool resume = false;
  std::string data, checkpoint, network, schedule, divergence, kind, device;
  std::int64_t steps = 0, epochs = 0, batch = 0, seed = 0, nfe = 0, workers = 0;
  double lr = 0;
  std::vector<std::pair<CLI::Option*, std::pair<std::string, std::string>>> given;  // option -> (table, key)
};

// The rendezvous waits until every rank has started, up to the timeout: after a few seconds rank 0
// says where it waits and for what, and Ctrl-C (or Slurm's SIGTERM) ends the wait at once, since
// nothing has been written yet.
std::shared_ptr<ProcessGroup> meet_the_other_processes(const Launch& launch, bool lead) {
  constexpr double kNoticeAfterSeconds = 5;
  std::mutex mutex;
  std::condition_variable met;
  bool done = false;
  std::thread watcher([&] {
    const Clock::time_point start = Clock::now();
    bool told = false;
    std::unique_lock<std::mutex> lock(mutex);
    while (!met.wait_for(lock, std::chrono::milliseconds(100), [&] { return done; })) {
      if (interrupt_requested()) {
        std::cerr << "phasegen: rank " << launch.rank << " of " << launch.size
                  << ": interrupted while waiting for the other processes" << std::endl;
        std::_Exit(kInterruptedExit);
      }
      if (lead && !told && seconds_since(start) >= kNoticeAfterSeconds) {
        told = true;
        std::cerr << "phasegen: rank 0 of " << launch.size << ": waiting at " << launch.address << ":" << launch.port
                  << " for the other " << launch.size - 1 << " rank(s) to start (" << launch.source << "; up to "
                  << launch.timeout_s << " s"
                  << (launch.source == "Slurm variables" ? "; srun starts one per task" : "")
                  << "; Ctrl-C stops)" << std::endl;
      }
    }
  });
  const auto finish = [&] {
    {
      std::lock_guard<std::mutex> lock(mutex);
      done = true;
    }
    met.notify_one();
    watcher.join();
  };
  try {
    std::shared_ptr<ProcessGroup> group = ProcessGroup::connect(launch);
    finish();
    return group;
  } catch (...) {
    finish();
    throw;
  }
}

void run_train(TrainFlags& flags) {
  configure_threads(Workload::kNetwork);
  CardSection model_table = ModelSpec::schema();
  CardSection train_table = TrainOptions::schema();
  if (!flags.card.empty()) {
    const bool has_model = model_table.load(flags.card, false);
    const bool has_train = train_table.load(flags.card, false);
    PHASEGEN_CHECK(has_model || has_train, flags.card, ": the run card has neither a [model] nor a [train] table");
  }
  for (auto& [option, where] : flags.given) {
    if (option->count() == 0) continue;
    CardSection& table = where.first == "model" ? model_table : train_table;
    table.set_text(where.second, option->as<std::string>(), option->get_name());
  }
  const ModelSpec spec = ModelSpec::from_table(model_table);
  PHASEGEN_CHECK(train_table.has("data"), "data: expected a training event file (--data or the card's [train])");
  PHASEGEN_CHECK(train_table.has("checkpoint"),
                 "checkpoint: expected a checkpoint path (--checkpoint or the card's [train])");
  const std::optional<Launch> launch = launch_from_environment();
  TrainOptions options = TrainOptions::from_table(train_table, launch ? &*launch : nullptr);
  options.validate();
  if (flags.dry_run) {
    std::cout << "# resolved run card" << (flags.card.empty() ? "" : " (from " + flags.card + " and flags)") << "\n"
              << spec.to_card() << "\n" << options.to_table().to_toml();
    return;
  }
  const bool lead = !launch || launch->rank == 0;  // rank 0 reports and writes checkpoints
  if (lead) check_writable_location(options.checkpoint());  // before training, not at the first checkpoint
  if (launch) {
    options.processes(meet_the_other_processes(*launch, lead));
    // The machine's cores are shared by its processes: so are OpenBLAS's threads.
    const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    set_blas_threads(std::max(1, cpus / launch->local_size));
  }
  const EventSet data = read_events(options.data());
  Model model(spec, data, options.seed());
  Trainer trainer(model, options);
  if (flags.resume) trainer.resume();
  const std::int64_t n = data.momenta.size(0);
  const std::int64_t n_train = n - static_cast<std::int64_t>(options.validation_fraction() * static_cast<double>(n));
  std::ostringstream heading;
  heading << "phasegen train: " << model.description() << "\n"
          << "  network             " << model.network()->description() << ", " << parameter_count(*model.network())
          << " parameters\n"
          << "  data                " << options.data() << ": " << n << " events, N = " << model.particles()
          << ", sqrt_s = " << format_number(model.sqrt_s(), 10) << " GeV\n"
          << "  steps               " << trainer.total_steps(n_train) << " (batch " << options.batch() << ", lr "
          << options.lr() << ", " << at::get_num_threads() << " threads, " << options.device()
          << (options.device().is_cpu()
                  ? detail::concat(", ", options.workers(), options.workers() == 1 ? " worker" : " workers")
                  : std::string())
          << ")" << (flags.resume ? ", resuming at step " + std::to_string(trainer.step()) : std::string()) << "\n";
  if (!model.preparation().empty()) heading << "  lift                " << model.preparation() << " before the first step\n";
  if (launch) {
    heading << "  processes           " << launch->size << " (" << launch->source << ", Gloo rendezvous at "
            << launch->address << ":" << launch->port << "), batch " << options.batch() << " each, "
            << options.batch() * launch->size << " per step\n";
  }
  if (lead) std::cout << heading.str() << std::flush;
  std::optional<ProgressBar> bar;
  if (lead) bar.emplace("train", trainer.total_steps(n_train), "steps");
  if (bar) bar->set_start(trainer.step());
  const auto start = Clock::now();
  const std::int64_t first_step = trainer.step();
  TrainResult result = trainer.run(
      data.momenta,
      [&](const StepReport& r) {
        if (!bar) return;
        bar->set_note("loss " + format_number(r.loss, 4) + " lr " + format_number(r.lr, 2) +
                      (std::isnan(r.validation_loss) ? "" : " val " + format_number(r.validation_loss, 4)));
        bar->update(r.step);
      },
      [] { return interrupt_requested(); });
  if (bar && !result.interrupted) bar->finish();
  const double seconds = seconds_since(start);
  const std::int64_t done = result.steps_done - first_step;
  // Stopped in the family's one-off lift, before any step: nothing was written.
  if (result.interrupted && done == 0) throw Interrupted("interrupted before the first step; no checkpoint written");
  if (!lead) {
    if (result.interrupted) throw Interrupted(detail::concat("rank ", launch->rank, ": interrupted at step ", result.steps_done));
    return;
  }
  std::cout << (result.interrupted ? "  interrupted at step " : "  finished at step ") << result.steps_done << " in "
            << format_number(seconds) << " s (" << format_number(done / std::max(seconds, 1e-9)) << " steps/s)\n"
            << "  last loss           " << format_number(result.last_loss, 6) << ", validation "
            << format_number(result.last_validation_loss, 6) << "\n"
            << "  checkpoint          " << options.checkpoint() << "\n";
  if (result.interrupted) {
    throw Interrupted(detail::concat("interrupted at step ", result.steps_done, "; checkpoint written to '",
                                     options.checkpoint(), "'; continue with --resume"));
  }
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand(
      "train", "Train a model from a run card: kind = langevin (the paper's), flow, vp, or the p-space baselines pflow, pddpm");
  cmd->add_option("--card", flags->card, "TOML run card with [model] and [train] tables; flags override it");
  cmd->add_flag("--dry-run", flags->dry_run, "Print the resolved run card and exit");
  cmd->add_flag("--resume", flags->resume, "Continue from the checkpoint (same card, seed, threads and workers)");
  auto add = [&](const std::string& names, auto& variable, const std::string& help, std::string table,
                 std::string key) {
    flags->given.push_back({cmd->add_option(names, variable, help), {std::move(table), std::move(key)}});
  };
  add("--data", flags->data, "Training events (.pt, .hepmc3, .lhe)", "train", "data");
  add("--checkpoint", flags->checkpoint, "Checkpoint file, written every checkpoint_every steps and at the end",
      "train", "checkpoint");
  add("--steps", flags->steps, "Total optimiser steps (overrides epochs)", "train", "steps");
  add("--epochs", flags->epochs, "Epochs over the training split (default 100)", "train", "epochs");
  add("--batch", flags->batch, "Minibatch size (default 1024)", "train", "batch");
  add("--lr", flags->lr, "Peak learning rate (default 1e-3)", "train", "lr");
  add("--seed", flags->seed, "Seed of every random stream of the run (default 1)", "train", "seed");
  add("--device", flags->device,
      "auto (a CUDA GPU where LibTorch has CUDA and one is visible, else the CPU), cpu or cuda (default auto)", "train",
      "device");
  add("--workers", flags->workers,
      "CPU threads training on parts of each minibatch side by side, one core each (0: one per CPU, at most "
      "one per 128 events of the batch; default 0); "
      "the run depends on the seed and this count",
      "train", "workers");
  add("--network", flags->network, "mlp or transformer", "model", "network");
  add("--kind", flags->kind, "Model family: " + kModelKindNames.choices(), "model", "kind");
  add("--schedule", flags->schedule, "langevin: paper (T = 500) or extended (T = 1137); vp: linear or paper", "model",
      "schedule");
  add("--nfe", flags->nfe, "network evaluations per sampled event (langevin: at most the schedule's T)", "model", "nfe");
  add("--divergence", flags->divergence, "exact or hutchinson", "model", "divergence");
  cmd->footer(
      "Several processes (data-parallel, CPU): start one per process with torchrun's variables (RANK, WORLD_SIZE, "
      "MASTER_ADDR, MASTER_PORT) or under srun (SLURM_PROCID, SLURM_NTASKS, and MASTER_ADDR); --batch is per "
      "process, rank 0 prints and writes checkpoints. PHASEGEN_DISTRIBUTED_TIMEOUT: seconds to wait for the "
      "others (default 600); rank 0 says after 5 s that it waits, and Ctrl-C ends the wait.");
  cmd->callback([flags] { run_train(*flags); });
}

}  // namespace phasegen::cli
