// phasegen train: the q-space Langevin diffusion of the paper, trained from a run card.
#include <ATen/Parallel.h>

#include <cmath>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "cli_support.hpp"
#include "commands.hpp"
#include "phasegen/card.hpp"
#include "phasegen/flow.hpp"
#include "phasegen/ode.hpp"
#include "phasegen/error.hpp"
#include "phasegen/event_io.hpp"
#include "phasegen/models.hpp"
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
                               {"nfe", CardType::kInt}});
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
                               {"seed", CardType::kInt}});
}

void set_model_defaults(CardSection& m) {
  const NetworkOptions n;
  const DiffusionOptions d;
  m.set("kind", std::string("langevin"));
  m.set("network", n.kind_);
  m.set("hidden", n.hidden_);
  m.set("layers", n.layers_);
  m.set("time_embedding", n.time_embedding_);
  m.set("model_dim", n.model_dim_);
  m.set("blocks", n.blocks_);
  m.set("heads", n.heads_);
  m.set("schedule", d.schedule);
  m.set("reference_score", d.reference_score);
  m.set("epsilon", d.epsilon);
  m.set("parametrisation", d.parametrisation);
  m.set("weighting", d.weighting);
  m.set("divergence", d.divergence);
  m.set("variance", d.variance);
  m.set("lift", std::string("random"));
  m.set("lift_scale", 0.15);
  m.set("prior", std::string("rambo"));
  m.set("solver", std::string("heun"));
  m.set("nfe", std::int64_t{20});
}

// Settings of the other model family do not apply; the resolved card leaves them out.
void drop_other_family(CardSection& m, const std::string& kind) {
  const char* langevin[] = {"schedule", "reference_score", "epsilon", "parametrisation", "weighting", "divergence",
                            "variance"};
  const char* flow[] = {"prior", "solver", "nfe"};
  if (kind == "flow") {
    for (const char* key : langevin) m.erase(key);
  } else {
    for (const char* key : flow) m.erase(key);
  }
  const bool mlp = m.get_string("network") == "mlp";
  for (const char* key : {"model_dim", "blocks", "heads"}) {
    if (mlp) m.erase(key);
  }
  for (const char* key : {"hidden", "layers"}) {
    if (!mlp) m.erase(key);
  }
  if (m.get_string("lift") == "random") m.erase("lift_scale");
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
}

struct TrainFlags {
  std::string card;
  bool dry_run = false;
  bool resume = false;
  std::string data, checkpoint, network, schedule, divergence;
  std::int64_t steps = 0, epochs = 0, batch = 0, seed = 0;
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

TrainOptions train_options(const CardSection& t) {
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
  o.validate();
  return o;
}

void run_train(TrainFlags& flags) {
  configure_threads(Workload::kNetwork);
  CardSection model = model_schema();
  CardSection train = train_schema();
  set_model_defaults(model);
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
  const std::string kind = model.get_string("kind");
  PHASEGEN_CHECK(kind == "langevin" || kind == "flow", "kind: unknown model '", kind,
                 "': expected langevin or flow");
  drop_other_family(model, kind);
  PHASEGEN_CHECK(train.has("data"), "data: expected a training event file (--data or the card's [train])");
  std::optional<DiffusionOptions> diffusion;
  if (kind == "langevin") diffusion = diffusion_options(model);
  if (kind == "flow") {
    flow_prior_from_name(model.get_string("prior"));
    steps_for_budget(ode_solver_from_name(model.get_string("solver")), model.get_int("nfe"));
  }
  const LiftOptions lift = lift_options(model);
  const TrainOptions options = train_options(train);
  const std::string resolved = model.to_toml() + "\n" + train.to_toml();
  NetworkOptions network_options = NetworkOptions().kind(model.get_string("network"));
  network_options.time_embedding(model.get_int("time_embedding"));
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
  check_writable_location(options.checkpoint);  // before training, not at the first checkpoint
  const std::string data_path = train.get_string("data");
  EventSet data = read_events(data_path);
  network_options.particles(data.momenta.size(1));
  auto net = make_network(network_options, options.seed);
  std::unique_ptr<LangevinModel> langevin;
  std::unique_ptr<FlowModel> flow;
  if (kind == "langevin") {
    langevin = std::make_unique<LangevinModel>(*diffusion, lift, data.sqrt_s);
  } else {
    const OdeSolver solver = ode_solver_from_name(model.get_string("solver"));
    const std::int64_t nfe = model.get_int("nfe");
    if (flow_prior_from_name(model.get_string("prior")) == FlowPrior::kGaussian) {
      flow = std::make_unique<FlowModel>(
          FlowModel::with_fitted_gaussian(data.momenta, solver, nfe, lift, data.sqrt_s, options.seed));
    } else {
      flow = std::make_unique<FlowModel>(FlowMatching(FlowPrior::kRambo, solver, nfe), lift, data.sqrt_s);
    }
  }
  const std::string description = langevin ? langevin->description() : flow->description();
  ModelInfo info;
  info.model = kind;
  info.network = network_to_text(network_options);
  info.settings = langevin ? langevin->settings_text() : flow->settings_text();
  info.card = resolved;
  std::ostringstream ids;
  for (int id : data.pdg_ids) ids << id << ' ';
  info.data = to_key_values({{"path", data_path},
                             {"events", std::to_string(data.momenta.size(0))},
                             {"particles", std::to_string(data.momenta.size(1))},
                             {"sqrt_s", detail::concat(data.sqrt_s)},
                             {"pdg_ids", ids.str()}});
  Trainer trainer(net, langevin ? langevin->loss_function() : flow->loss_function(), options, info);
  if (flags.resume) trainer.resume();
  const std::int64_t n_train =
      data.momenta.size(0) - static_cast<std::int64_t>(options.validation_fraction * data.momenta.size(0));
  std::cout << "phasegen train: " << description << "\n"
            << "  network             " << network_options.description() << ", " << parameter_count(*net)
            << " parameters\n"
            << "  data                " << data_path << ": " << data.momenta.size(0) << " events, N = "
            << data.momenta.size(1) << ", sqrt_s = " << format_number(data.sqrt_s, 10) << " GeV\n"
            << "  steps               " << trainer.total_steps(n_train) << " (batch " << options.batch << ", lr "
            << options.lr << ", " << at::get_num_threads() << " threads)"
            << (flags.resume ? ", resuming at step " + std::to_string(trainer.step()) : std::string()) << "\n"
            << std::flush;
  ProgressBar bar("train", trainer.total_steps(n_train), "steps");
  bar.set_start(trainer.step());
  const auto start = Clock::now();
  const std::int64_t first_step = trainer.step();
  TrainResult result = trainer.run(
      data.momenta,
      [&](const StepReport& r) {
        bar.set_note("loss " + format_number(r.loss, 4) + " lr " + format_number(r.lr, 2) +
                     (std::isnan(r.validation_loss) ? "" : " val " + format_number(r.validation_loss, 4)));
        bar.update(r.step);
      },
      [] { return interrupt_requested(); });
  if (!result.interrupted) bar.finish();
  const double seconds = seconds_since(start);
  const std::int64_t done = result.steps_done - first_step;
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
      "train", "Train a q-space model from a run card: the paper's Langevin diffusion or flow matching");
  cmd->add_option("--card", flags->card, "TOML run card with [model] and [train] tables; flags override it");
  cmd->add_flag("--dry-run", flags->dry_run, "Print the resolved run card and exit");
  cmd->add_flag("--resume", flags->resume, "Continue from the checkpoint (same card, seed and threads)");
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
  add("--network", flags->network, "mlp or transformer", "model", "network");
  add("--schedule", flags->schedule, "paper (T = 500) or extended (T = 1137)", "model", "schedule");
  add("--divergence", flags->divergence, "exact or hutchinson", "model", "divergence");
  cmd->callback([flags] { run_train(*flags); });
}

}  // namespace phasegen::cli
