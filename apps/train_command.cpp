// phasegen train: any model family (kind = langevin, flow, vp, or the p-space baselines pflow and
// pddpm), trained from a run card.
#include <ATen/Parallel.h>

#include <algorithm>
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
#include "phasegen/card.hpp"
#include "phasegen/distributed.hpp"
#include "phasegen/flow.hpp"
#include "phasegen/ode.hpp"
#include "phasegen/error.hpp"
#include "phasegen/event_io.hpp"
#include "phasegen/models.hpp"
#include "phasegen/parallel.hpp"
#include "phasegen/nn.hpp"
#include "phasegen/train.hpp"

namespace phasegen::cli {

namespace {

CardSection model_schema() {
  return CardSection("model", {{"kind", CardType::kString},
                               {"network", CardType::kString},
                               {"hidden", CardType::kInt},
                               {"layers", CardType::kInt},
                               {"time_embedding", CardType::kInt},
                               {"model_dim", CardType::kInt},
                               {"blocks", CardType::kInt},
                               {"heads", CardType::kInt},
                               {"schedule", CardType::kString},
                               {"reference_score", CardType::kString},
                               {"epsilon", CardType::kFloat},
                               {"parametrisation", CardType::kString},
                               {"weighting", CardType::kString},
                               {"divergence", CardType::kString},
                               {"variance", CardType::kString},
                               {"lift", CardType::kString},
                               {"lift_scale", CardType::kFloat},
                               {"prior", CardType::kString},
                               {"solver", CardType::kString},
                               {"sampler", CardType::kString},
                               {"nfe", CardType::kInt},
                               {"grid", CardType::kString},
                               {"features", CardType::kString},
                               {"coupling", CardType::kString},
                               {"time_law", CardType::kString}});
}

// The model kinds of a card: the q-space models, the z-space VP diffusion, and the paper's two
// p-space baselines (flow matching and DDPM on P/x).
const char* const kKinds = "langevin, flow, vp, pflow or pddpm";

// Settings of each kind with their defaults; keys of other kinds are dropped from the resolved card.
std::vector<std::pair<std::string, CardValue>> kind_defaults(const std::string& kind) {
  const DiffusionOptions d;
  const VpOptions vp;
  if (kind == "langevin") {
    return {{"schedule", d.schedule},   {"reference_score", d.reference_score}, {"epsilon", d.epsilon},
            {"parametrisation", d.parametrisation}, {"weighting", d.weighting},   {"divergence", d.divergence},
            {"variance", d.variance},   {"sampler", d.sampler},                {"nfe", d.nfe},
            {"lift", std::string("random")}, {"lift_scale", 0.15}};
  }
  if (kind == "flow") {
    return {{"prior", std::string("rambo")}, {"solver", std::string("heun")}, {"nfe", std::int64_t{20}},
            {"lift", std::string("random")}, {"lift_scale", 0.15},     {"features", std::string("none")},
            {"coupling", std::string("independent")}, {"time_law", std::string("uniform")}};
  }
  if (kind == "vp") {
    return {{"schedule", vp.schedule}, {"sampler", vp.sampler},           {"nfe", vp.nfe},
            {"grid", vp.grid},         {"lift", std::string("random")}, {"lift_scale", 0.15},
            {"features", std::string("none")}};
  }
  if (kind == "pflow") return {{"solver", std::string("euler")}, {"nfe", std::int64_t{500}}};
  if (kind == "pddpm") {
    return {{"schedule", std::string("paper")}, {"sampler", std::string("ddpm")}, {"nfe", std::int64_t{500}},
            {"grid", std::string("time")}};
  }
  throw Error(detail::concat("kind: unknown model '", kind, "': expected ", kKinds));
}

// Fills in the kind's defaults where the card and the flags are silent, and drops what does not apply.
void resolve_model_settings(CardSection& m) {
  const NetworkOptions n;
  if (!m.has("kind")) m.set("kind", std::string("langevin"));
  const std::string kind = m.get_string("kind");
  const auto defaults = kind_defaults(kind);
  const std::vector<std::pair<std::string, CardValue>> network = {
      {"network", n.kind_},     {"hidden", n.hidden_}, {"layers", n.layers_}, {"time_embedding", n.time_embedding_},
      {"model_dim", n.model_dim_}, {"blocks", n.blocks_}, {"heads", n.heads_}};
  for (const auto& list : {network, defaults}) {
    for (const auto& [key, value] : list) {
      if (!m.has(key)) m.set(key, value);
    }
  }
  for (const char* key : {"schedule", "reference_score", "epsilon", "parametrisation", "weighting", "divergence",
                          "variance", "lift", "lift_scale", "prior", "solver", "sampler", "nfe", "grid", "features", "coupling", "time_law"}) {
    const bool applies = std::any_of(defaults.begin(), defaults.end(), [&](const auto& d) { return d.first == key; });
    if (!applies) m.erase(key);
  }
  const bool mlp = m.get_string("network") == "mlp";
  for (const char* key : {"model_dim", "blocks", "heads"}) {
    if (mlp) m.erase(key);
  }
  for (const char* key : {"hidden", "layers"}) {
    if (!mlp) m.erase(key);
  }
  if (m.has("lift") && m.get_string("lift") == "random") m.erase("lift_scale");
  // A Langevin model's em sampler takes every step of its schedule unless told otherwise.
  if (kind == "langevin" && m.get_int("nfe") == 0 && m.get_string("sampler") == "em") {
    m.set("nfe", NoiseSchedule::from_name(m.get_string("schedule")).steps());
  }
}

CardSection train_schema() {
  return CardSection("train", {{"data", CardType::kString},
                               {"batch", CardType::kInt},
                               {"epochs", CardType::kInt},
                               {"steps", CardType::kInt},
                               {"lr", CardType::kFloat},
                               {"weight_decay", CardType::kFloat},
                               {"clip", CardType::kFloat},
                               {"warmup", CardType::kInt},
                               {"ema", CardType::kFloat},
                               {"validation_fraction", CardType::kFloat},
                               {"validate_every", CardType::kInt},
                               {"checkpoint_every", CardType::kInt},
                               {"checkpoint", CardType::kString},
                               {"seed", CardType::kInt},
                               {"device", CardType::kString},
                               {"workers", CardType::kInt}});
}

void set_train_defaults(CardSection& t) {
  const TrainOptions o;
  t.set("batch", o.batch);
  t.set("epochs", o.epochs);
  t.set("steps", o.steps);
  t.set("lr", o.lr);
  t.set("weight_decay", o.weight_decay);
  t.set("clip", o.clip);
  t.set("warmup", o.warmup);
  t.set("ema", o.ema);
  t.set("validation_fraction", o.validation_fraction);
  t.set("validate_every", o.validate_every);
  t.set("checkpoint_every", o.checkpoint_every);
  t.set("seed", static_cast<std::int64_t>(o.seed));
  t.set("device", std::string("auto"));
  t.set("workers", std::int64_t{0});
}

struct TrainFlags {
  std::string card;
  bool dry_run = false;
  bool resume = false;
  std::string data, checkpoint, network, schedule, divergence, kind, device;
  std::int64_t steps = 0, epochs = 0, batch = 0, seed = 0, nfe = 0, workers = 0;
  double lr = 0;
  std::vector<std::pair<CLI::Option*, std::pair<std::string, std::string>>> given;  // option -> (table, key)
};

DiffusionOptions diffusion_options(const CardSection& m) {
  DiffusionOptions d;
  d.schedule = m.get_string("schedule");
  d.reference_score = m.get_string("reference_score");
  d.epsilon = m.get_double("epsilon");
  d.parametrisation = m.get_string("parametrisation");
  d.weighting = m.get_string("weighting");
  d.divergence = m.get_string("divergence");
  d.variance = m.get_string("variance");
  d.sampler = m.get_string("sampler");
  d.nfe = m.get_int("nfe");
  d.validate();
  return d;
}

LiftOptions lift_options(const CardSection& m) {
  const std::string lift = m.get_string("lift");
  if (lift == "random") return LiftOptions::random();
  PHASEGEN_CHECK(m.has("lift_scale"), "lift_scale: expected the scale x of the fixed lift");
  PHASEGEN_CHECK(lift == "fixed", "lift: expected random or fixed, but got '", lift, "'");
  return LiftOptions::fixed(m.get_double("lift_scale"));
}

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

TrainOptions train_options(const CardSection& t, const std::optional<Launch>& launch) {
  TrainOptions o;
  o.batch = t.get_int("batch");
  o.epochs = t.get_int("epochs");
  o.steps = t.get_int("steps");
  o.lr = t.get_double("lr");
  o.weight_decay = t.get_double("weight_decay");
  o.clip = t.get_double("clip");
  o.warmup = t.get_int("warmup");
  o.ema = t.get_double("ema");
  o.validation_fraction = t.get_double("validation_fraction");
  o.validate_every = t.get_int("validate_every");
  o.checkpoint_every = t.get_int("checkpoint_every");
  PHASEGEN_CHECK(t.has("checkpoint"), "checkpoint: expected a checkpoint path (--checkpoint or the card's [train])");
  o.checkpoint = t.get_string("checkpoint");
  PHASEGEN_CHECK(t.get_int("seed") >= 0, "seed: expected a seed >= 0, but got ", t.get_int("seed"));
  o.seed = static_cast<std::uint64_t>(t.get_int("seed"));
  // Several processes train on the CPU (Gloo): there "auto" means the CPU.
  const std::string device = t.get_string("device");
  o.device = launch && device == "auto" ? at::Device(at::kCPU) : device_from_name(device);
  PHASEGEN_CHECK(t.get_int("workers") >= 0, "workers: expected a worker count >= 0 (0: one per CPU), but got ",
                 t.get_int("workers"));
  o.workers = o.device.is_cpu() ? resolve_workers(static_cast<int>(t.get_int("workers")), o.batch,
                                                  launch ? launch->local_size : 1)
                                : 1;
  o.validate();
  return o;
}

VpOptions vp_options(const CardSection& m) {
  VpOptions o;
  o.schedule = m.get_string("schedule");
  o.sampler = m.get_string("sampler");
  o.nfe = m.get_int("nfe");
  o.grid = m.get_string("grid");
  o.validate();
  return o;
}

// Checks every setting of the card's kind before any data is read.
void validate_model_settings(const CardSection& m) {
  const std::string kind = m.get_string("kind");
  if (kind == "langevin") diffusion_options(m);
  if (kind == "vp" || kind == "pddpm") vp_options(m);
  if (kind == "flow" || kind == "pflow") {
    steps_for_budget(ode_solver_from_name(m.get_string("solver")), m.get_int("nfe"));
  }
  if (kind == "flow") {
    const std::string prior = m.get_string("prior");
    PHASEGEN_CHECK(prior == "rambo" || prior == "gaussian" || prior == "latent", "prior: unknown prior '", prior,
                   "': expected rambo, gaussian (fitted to the lifted data) or latent (N(0, I) in z-space)");
  }
  if (m.has("lift")) lift_options(m);
  if (m.has("features")) state_features_from_name(m.get_string("features"));
  if (m.has("time_law")) FlowMatching::check_time_law(m.get_string("time_law"));
  if (m.has("coupling")) {
    PHASEGEN_CHECK(flow_coupling_from_name(m.get_string("coupling")) == FlowCoupling::kIndependent ||
                       m.get_string("prior") != "gaussian",
                   "coupling = ", m.get_string("coupling"),
                   ": expected the rambo or latent prior (the fibre of a Gaussian draw is not p_ref's)");
  }
}

StateFeatures features_of(const CardSection& m) {
  return m.has("features") ? state_features_from_name(m.get_string("features")) : StateFeatures::kNone;
}

std::unique_ptr<Model> build_model(const CardSection& m, const EventSet& data, std::uint64_t seed) {
  const std::string kind = m.get_string("kind");
  if (kind == "langevin") return std::make_unique<LangevinModel>(diffusion_options(m), lift_options(m), data.sqrt_s);
  const StateFeatures features = features_of(m);
  if (kind == "vp") {
    return std::make_unique<VpModel>(vp_options(m), StateSpace::latent(lift_options(m), data.sqrt_s), features);
  }
  const StateSpace momentum = StateSpace::momentum(StateSpace::momentum_scale(data.momenta), data.sqrt_s);
  if (kind == "pddpm") return std::make_unique<VpModel>(vp_options(m), momentum);
  const OdeSolver solver = ode_solver_from_name(m.get_string("solver"));
  const std::int64_t nfe = m.get_int("nfe");
  const FlowCoupling coupling =
      m.has("coupling") ? flow_coupling_from_name(m.get_string("coupling")) : FlowCoupling::kIndependent;
  if (kind == "pflow") return std::make_unique<FlowModel>(FlowMatching(FlowPrior::kNormal, solver, nfe), momentum);
  const std::string prior = m.get_string("prior");
  StateSpace space = prior == "latent" ? StateSpace::latent(lift_options(m), data.sqrt_s)
                                       : StateSpace::q_space(lift_options(m), data.sqrt_s);
  FlowMatching flow = prior == "gaussian"
                          ? FlowModel::with_fitted_gaussian(data.momenta, solver, nfe, space, seed).flow()
                          : FlowMatching(prior == "latent" ? FlowPrior::kNormal : FlowPrior::kRambo, solver, nfe);
  flow.set_time_law(m.get_string("time_law"));
  return std::make_unique<FlowModel>(std::move(flow), space, features, coupling);
}

void run_train(TrainFlags& flags) {
  configure_threads(Workload::kNetwork);
  CardSection model = model_schema();
  CardSection train = train_schema();
  set_train_defaults(train);
  if (!flags.card.empty()) {
    const bool has_model = model.load(flags.card, false);
    const bool has_train = train.load(flags.card, false);
    PHASEGEN_CHECK(has_model || has_train, flags.card, ": the run card has neither a [model] nor a [train] table");
  }
  for (auto& [option, where] : flags.given) {
    if (option->count() == 0) continue;
    CardSection& table = where.first == "model" ? model : train;
    table.set_text(where.second, option->as<std::string>(), option->get_name());
  }
  resolve_model_settings(model);
  const std::string kind = model.get_string("kind");
  PHASEGEN_CHECK(train.has("data"), "data: expected a training event file (--data or the card's [train])");
  validate_model_settings(model);
  const std::optional<Launch> launch = launch_from_environment();
  TrainOptions options = train_options(train, launch);
  const std::string resolved = model.to_toml() + "\n" + train.to_toml();
  NetworkOptions network_options = NetworkOptions().kind(model.get_string("network"));
  network_options.time_embedding(model.get_int("time_embedding"));
  network_options.extra_inputs(extra_inputs(features_of(model)));
  if (model.has("hidden")) network_options.hidden(model.get_int("hidden")).layers(model.get_int("layers"));
  if (model.has("model_dim")) {
    network_options.model_dim(model.get_int("model_dim")).blocks(model.get_int("blocks")).heads(model.get_int("heads"));
  }
  network_options.validate();
  if (flags.dry_run) {
    std::cout << "# resolved run card" << (flags.card.empty() ? "" : " (from " + flags.card + " and flags)") << "\n"
              << resolved;
    return;
  }
  const bool lead = !launch || launch->rank == 0;  // rank 0 reports and writes checkpoints
  if (lead) check_writable_location(options.checkpoint);  // before training, not at the first checkpoint
  if (launch) {
    options.processes = meet_the_other_processes(*launch, lead);
    // The machine's cores are shared by its processes: so are OpenBLAS's threads.
    const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    set_blas_threads(std::max(1, cpus / launch->local_size));
  }
  const std::string data_path = train.get_string("data");
  EventSet data = read_events(data_path);
  network_options.particles(data.momenta.size(1));
  auto net = make_network(network_options, options.seed);
  std::unique_ptr<Model> built = build_model(model, data, options.seed);
  const std::string description = built->description();
  options.loss_group = built->loss_group();
  ModelInfo info;
  info.model = built->kind();
  info.network = network_to_text(network_options);
  info.settings = built->settings_text();
  info.card = resolved;
  std::ostringstream ids;
  for (int id : data.pdg_ids) ids << id << ' ';
  info.data = to_key_values({{"path", data_path},
                             {"events", std::to_string(data.momenta.size(0))},
                             {"particles", std::to_string(data.momenta.size(1))},
                             {"sqrt_s", detail::concat(data.sqrt_s)},
                             {"pdg_ids", ids.str()}});
  Trainer trainer(net, built->loss_function(), options, info);
  if (flags.resume) trainer.resume();
  const std::int64_t n_train =
      data.momenta.size(0) - static_cast<std::int64_t>(options.validation_fraction * data.momenta.size(0));
  std::ostringstream heading;
  heading << "phasegen train: " << description << "\n"
            << "  network             " << network_options.description() << ", " << parameter_count(*net)
            << " parameters\n"
            << "  data                " << data_path << ": " << data.momenta.size(0) << " events, N = "
            << data.momenta.size(1) << ", sqrt_s = " << format_number(data.sqrt_s, 10) << " GeV\n"
            << "  steps               " << trainer.total_steps(n_train) << " (batch " << options.batch << ", lr "
            << options.lr << ", " << at::get_num_threads() << " threads, " << options.device
            << (options.device.is_cpu() ? detail::concat(", ", options.workers, options.workers == 1 ? " worker" : " workers")
                                        : std::string())
            << ")"
            << (flags.resume ? ", resuming at step " + std::to_string(trainer.step()) : std::string()) << "\n";
  if (launch) {
    heading << "  processes           " << launch->size << " (" << launch->source << ", Gloo rendezvous at "
            << launch->address << ":" << launch->port << "), batch " << options.batch << " each, "
            << options.batch * launch->size << " per step\n";
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
  if (!lead) {
    if (result.interrupted) throw Interrupted(detail::concat("rank ", launch->rank, ": interrupted at step ", result.steps_done));
    return;
  }
  std::cout << (result.interrupted ? "  interrupted at step " : "  finished at step ") << result.steps_done << " in "
            << format_number(seconds) << " s (" << format_number(done / std::max(seconds, 1e-9)) << " steps/s)\n"
            << "  last loss           " << format_number(result.last_loss, 6) << ", validation "
            << format_number(result.last_validation_loss, 6) << "\n"
            << "  checkpoint          " << options.checkpoint << "\n";
  if (result.interrupted) {
    throw Interrupted(detail::concat("interrupted at step ", result.steps_done, "; checkpoint written to '",
                                     options.checkpoint, "'; continue with --resume"));
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
  add("--kind", flags->kind, std::string("Model family: ") + kKinds, "model", "kind");
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
