#include "phasegen/models/model.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <mutex>

#include "phasegen/core/error.hpp"
#include "phasegen/core/parallel.hpp"
#include "phasegen/core/random.hpp"
#include "phasegen/models/families.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/training/checkpoint.hpp"

namespace phasegen {

namespace {

// Events the antenna-chain chart's standardisation is fitted to: its 4N - 5 means and covariances
// to well under a percent, at a few seconds of chain-order search.
constexpr std::int64_t kChainFitEvents = 50000;

StateSpace momentum_space(const FittedState& fitted, double sqrt_s) {
  PHASEGEN_ASSERT(fitted.momentum_scale.has_value(), "a p-space model without its momentum scale");
  return StateSpace::momentum(*fitted.momentum_scale, sqrt_s);
}

// The state space a flow model with this prior lives in.
StateSpace flow_space(const ModelSpec& spec, double sqrt_s) {
  return spec.flow().prior() == FlowPriorChoice::kLatent ? StateSpace::latent(spec.lift(), sqrt_s)
                                                         : StateSpace::q_space(spec.lift(), sqrt_s);
}

std::shared_ptr<const ModelFamily> make_family(const ModelSpec& spec, std::int64_t particles, double sqrt_s,
                                               const FittedState& fitted) {
  const FlowOptions& f = spec.flow();
  switch (spec.kind()) {
    case ModelKind::kLangevin: return std::make_shared<LangevinFamily>(spec.langevin(), spec.lift(), sqrt_s);
    case ModelKind::kVp:
      return std::make_shared<VpFamily>(spec.vp(), StateSpace::latent(spec.lift(), sqrt_s), spec.features());
    case ModelKind::kPDdpm: return std::make_shared<VpFamily>(spec.vp(), momentum_space(fitted, sqrt_s));
    case ModelKind::kPFlow:
      return std::make_shared<FlowFamily>(FlowMatching(FlowPrior::kNormal, f.solver(), f.nfe()),
                                          momentum_space(fitted, sqrt_s));
    case ModelKind::kFlow: {
      if (f.prior() == FlowPriorChoice::kDalitz) {
        PHASEGEN_ASSERT(fitted.gaussian.has_value(), "a Dalitz-plane model without its standardisation");
        FlowMatching flow(f.prior_law(), f.solver(), f.nfe());
        flow.set_time_law(f.time_law());
        return std::make_shared<DalitzFlowFamily>(std::move(flow), DalitzSpace(spec.cut(), sqrt_s, *fitted.gaussian));
      }
      if (f.prior() == FlowPriorChoice::kChain) {
        PHASEGEN_ASSERT(fitted.gaussian.has_value() && fitted.chain_box.has_value(), "an antenna-chain model without its fit");
        FlowMatching flow(FlowPrior::kNormal, f.solver(), f.nfe());
        flow.set_time_law(f.time_law());
        return std::make_shared<ChainFlowFamily>(std::move(flow), ChainSpace(particles, sqrt_s, *fitted.chain_box, *fitted.gaussian), f.coupling());
      }
      const FlowPrior prior = f.prior() == FlowPriorChoice::kLatent     ? FlowPrior::kNormal
                              : f.prior() == FlowPriorChoice::kGaussian ? FlowPrior::kGaussian
                                                                        : FlowPrior::kRambo;
      PHASEGEN_ASSERT(prior != FlowPrior::kGaussian || fitted.gaussian.has_value(), "a gaussian prior not fitted");
      FlowMatching flow(prior, f.solver(), f.nfe(), prior == FlowPrior::kGaussian ? fitted.gaussian : std::nullopt);
      flow.set_time_law(f.time_law());
      return std::make_shared<FlowFamily>(std::move(flow), flow_space(spec, sqrt_s), spec.features(), f.coupling());
    }
  }
  PHASEGEN_ASSERT(false, "a model kind without a family");
  return nullptr;
}

NetworkOptions network_for(const ModelSpec& spec, std::int64_t particles) {
  NetworkOptions n = spec.network();
  if (spec.kind() == ModelKind::kFlow && spec.flow().prior() == FlowPriorChoice::kDalitz) return n.particles(1).coordinates(2);
  if (spec.kind() == ModelKind::kFlow && spec.flow().prior() == FlowPriorChoice::kChain) {
    return n.particles(1).coordinates(ChainSpace::dimension(particles));
  }
  return n.particles(particles).extra_inputs(spec.extra_inputs(particles));
}

FittedState fit(const ModelSpec& spec, const at::Tensor& events, const std::vector<int>& pdg_ids, double sqrt_s,
                std::uint64_t seed) {
  FittedState fitted;
  if (spec.kind() == ModelKind::kFlow && spec.flow().prior() == FlowPriorChoice::kChain) {
    PHASEGEN_CHECK(events.size(1) >= 3, "prior = chain: expected N >= 3 particles, but the training events have N = ",
                   events.size(1));
    PHASEGEN_CHECK(std::adjacent_find(pdg_ids.begin(), pdg_ids.end(), std::not_equal_to<int>()) == pdg_ids.end(),
                   "prior = chain: expected identical particles (the chart keeps no labels and samples them in a "
                   "random order), but the training events' PDG ids differ");
    PHASEGEN_CHECK(events.size(1) <= kChainMaxParticles, "prior = chain: expected N <= ", kChainMaxParticles,
                   " particles, but the training events have N = ", events.size(1));
    // The box and the standardisation from (at most) the first kChainFitEvents events.
    const at::Tensor head = events.narrow(0, 0, std::min<std::int64_t>(events.size(0), kChainFitEvents));
    at::Generator gen = stream_generator(seed, Stream::kGaussianFit, 0);
    fitted.chain_box = chain_box(head);
    fitted.gaussian = ChainSpace::fit(in_order(head, chain_history(head, *fitted.chain_box, gen)), *fitted.chain_box, gen);
  }
  if (spec.kind() == ModelKind::kPFlow || spec.kind() == ModelKind::kPDdpm) {
    fitted.momentum_scale = StateSpace::momentum_scale(events);
  }
  if (spec.kind() == ModelKind::kFlow && spec.flow().prior() == FlowPriorChoice::kDalitz) {
    PHASEGEN_CHECK(events.size(1) == 3, "prior = dalitz: expected three-body events, but the training events have N = ",
                   events.size(1));
    fitted.gaussian = DalitzSpace::fit(events, spec.cut());
  }
  if (spec.kind() == ModelKind::kFlow && spec.flow().prior() == FlowPriorChoice::kGaussian) {
    at::Generator gen = stream_generator(seed, Stream::kGaussianFit, 0);
    fitted.gaussian = FlowFamily::fit_gaussian(events, flow_space(spec, sqrt_s), gen);
  }
  return fitted;
}

// N of the training events, after checking their shape.
std::int64_t particles_of(const EventSet& data) {
  PHASEGEN_CHECK(data.momenta.dim() == 3 && data.momenta.size(2) == 4 && data.momenta.size(0) >= 1,
                 "model: expected training events [n, N, 4], but got ", data.momenta.sizes());
  return data.momenta.size(1);
}

}  // namespace

Model::Model(ModelSpec spec, std::int64_t particles, double sqrt_s, std::vector<int> pdg_ids, FittedState fitted,
             QNetwork net)
    : spec_(std::move(spec)),
      particles_(particles),
      sqrt_s_(sqrt_s),
      pdg_ids_(std::move(pdg_ids)),
      fitted_(std::move(fitted)),
      net_(std::move(net)) {
  build_family();
}

// Members are initialised in their order of declaration: the spec and N before the fit and the network.
Model::Model(ModelSpec spec, const EventSet& data, std::uint64_t seed)
    : spec_(std::move(spec)),
      particles_(particles_of(data)),
      sqrt_s_(data.sqrt_s),
      pdg_ids_(data.pdg_ids),
      fitted_(fit(spec_, data.momenta, data.pdg_ids, data.sqrt_s, seed)),
      net_(make_network(network_for(spec_, particles_), seed)) {
  build_family();
}

void Model::build_family() {
  PHASEGEN_CHECK(std::isfinite(sqrt_s_) && sqrt_s_ > 0, "model: expected sqrt_s > 0, but got ", sqrt_s_);
  spec_.validate();
  family_ = make_family(spec_, particles_, sqrt_s_, fitted_);
}

Model Model::load(const std::string& path, const at::Device& device) {
  CheckpointReader in(path, device);
  const CheckpointRecord& r = in.record();
  ModelSpec spec = [&] {
    try {
      return ModelSpec::from_card_text(r.card, path);
    } catch (const Error& e) {
      throw Error(detail::concat("checkpoint '", path, "': ", e.what()));
    }
  }();
  QNetwork net = make_network(network_for(spec, r.particles));
  net->to(device);
  ModelOrigin origin;
  origin.path = path;
  origin.ema = in.load_weights(*net, /*ema=*/true);
  origin.step = r.step;
  origin.version = r.version;
  origin.commit = r.commit;
  origin.card = r.card;
  origin.data_path = r.data_path;
  origin.data_events = r.data_events;
  origin.train_curve = r.train_curve;
  origin.validation_curve = r.validation_curve;
  Model model(std::move(spec), r.particles, r.sqrt_s, r.pdg_ids, r.fitted, std::move(net));
  model.origin_ = std::move(origin);
  return model;
}

void Model::save(const std::string& path) const {
  CheckpointRecord r;
  r.card = origin_ ? origin_->card : spec_.to_card();
  r.particles = particles_;
  r.sqrt_s = sqrt_s_;
  r.pdg_ids = pdg_ids_;
  r.fitted = fitted_;
  if (origin_) {
    r.data_path = origin_->data_path;
    r.data_events = origin_->data_events;
    r.step = origin_->step;
    r.train_curve = origin_->train_curve;
    r.validation_curve = origin_->validation_curve;
  }
  write_checkpoint(path, r, *net_);
}

at::Tensor Model::prepare(const at::Tensor& events, at::Generator& gen) const { return family_->prepare(events, gen); }

std::string Model::preparation() const { return family_->preparation(); }

at::Tensor Model::loss(const at::Tensor& events, at::Generator& gen) const { return family_->loss(*net_.ptr(), events, gen); }

std::int64_t Model::loss_group() const { return family_->loss_group(); }

Model Model::with_spec(ModelSpec spec) const {
  PHASEGEN_CHECK(spec.kind() == spec_.kind(), "model: expected a spec of kind ", kModelKindNames.name(spec_.kind()),
                 ", but got ", kModelKindNames.name(spec.kind()));
  PHASEGEN_CHECK(network_for(spec, particles_).description() == network_for(spec_, particles_).description(),
                 "model: a spec with another network cannot share this model's weights");
  Model other(std::move(spec), particles_, sqrt_s_, pdg_ids_, fitted_, net_);
  other.origin_ = origin_;
  return other;
}

void Model::to(const at::Device& device) { net_->to(device); }

at::Device Model::device() const {
  const auto params = net_->parameters();
  return params.empty() ? at::Device(at::kCPU) : params.front().device();
}

bool Model::conserving() const { return family_->conserving(); }
std::int64_t Model::evaluations() const { return family_->evaluations(); }
std::string Model::sampler_description() const { return family_->sampler_description(); }

std::string Model::description() const { return family_->description(); }

SamplePlan Model::plan(std::int64_t events, const SampleOptions& o) const {
  PHASEGEN_CHECK(events >= 1, "sample: expected a positive number of events, but got ", events);
  PHASEGEN_CHECK(o.batch() >= 1, "sample: expected a positive batch size, but got ", o.batch());
  PHASEGEN_CHECK(o.workers() >= 0, "sample: expected a worker count >= 0, but got ", o.workers());
  PHASEGEN_CHECK(o.trajectory_every() >= 0, "sample: expected a trajectory stride k >= 0, but got ",
                 o.trajectory_every());
  PHASEGEN_CHECK(o.trajectory_events() >= 1, "sample: expected trajectory events >= 1, but got ",
                 o.trajectory_events());
  PHASEGEN_CHECK(o.shards() >= 1 && o.shard() >= 1 && o.shard() <= o.shards(),
                 "sample: expected shard i of n with 1 <= i <= n, but got ", o.shard(), " of ", o.shards());
  PHASEGEN_CHECK(events >= o.shards(), "sample: the run's ", events, " events cannot fill ", o.shards(),
                 " shards (the count is the whole run's)");
  SamplePlan plan;
  // Shard i of n draws its share of the run's events from a seed of its own, (seed, i): shards are
  // independent, each reproducible alone.
  plan.count = events * o.shard() / o.shards() - events * (o.shard() - 1) / o.shards();
  plan.seed = o.shards() > 1 ? stream_seed(o.seed(), Stream::kSampleShard, static_cast<std::uint64_t>(o.shard()))
                             : o.seed();
  // On the CPU each batch is split over `workers` threads, one core and single-threaded BLAS each.
  // One worker draws the batches in turn from the seed's stream; more give part k of batch b its
  // own stream (seed, b, k).
  plan.workers = device().is_cpu() ? resolve_workers(o.workers(), o.batch()) : 1;
  return plan;
}

namespace {

// The generator of part `part` of batch `batch` of a sampling plan split into `parts`: the run's own
// generator for one part, else the stream (seed, batch, part).
at::Generator part_generator(const SamplePlan& p, int parts, std::uint64_t batch, int part, at::Generator& gen,
                             const at::Device& device) {
  return parts == 1 ? gen
                    : stream_generator(p.seed, Stream::kSamplePart,
                                       batch * static_cast<std::uint64_t>(parts) + static_cast<std::uint64_t>(part), device);
}

}  // namespace

std::string Model::density_refusal() const { return family_->density_refusal(); }

double Model::support_cut() const {
  return spec_.kind() == ModelKind::kFlow && spec_.flow().prior() == FlowPriorChoice::kDalitz ? spec_.cut() : 0.0;
}

DensityResult Model::sample_with_density(
    std::int64_t events, const SampleOptions& o,
    const std::function<void(const at::Tensor&, const at::Tensor&, const at::Tensor&)>& on_batch) const {
  const std::string why = density_refusal();
  PHASEGEN_CHECK(why.empty(), why);
  const at::Device device = this->device();
  DensityResult result;
  result.plan = plan(events, o);
  const SamplePlan& p = result.plan;
  // The float64 copy of the network the density is computed through.
  QNetwork net = make_network(network_for(spec_, particles_));
  {
    at::NoGradGuard no_grad;
    const auto source = net_->named_parameters();
    for (auto& param : net->named_parameters()) param.value().copy_(source[param.key()]);
    const auto source_buffers = net_->named_buffers();
    for (auto& buffer : net->named_buffers()) buffer.value().copy_(source_buffers[buffer.key()]);
  }
  net->to(device, at::kDouble);
  at::Generator gen = make_generator(p.seed, device);
  std::vector<at::Tensor> kept_events, kept_ratios, kept_nonpositive;
  std::int64_t batch_index = 0;
  for (std::int64_t done = 0; done < p.count;) {
    const std::int64_t n = std::min(o.batch(), p.count - done);
    const auto start = std::chrono::steady_clock::now();
    const auto b = static_cast<std::uint64_t>(batch_index++);
    const int parts = static_cast<int>(std::min<std::int64_t>(p.workers, n));
    std::vector<ModelFamily::DensitySample> sampled(static_cast<std::size_t>(parts));
    run_in_parts(n, parts, [&](int part, std::int64_t /*begin*/, std::int64_t count) {
      at::Generator part_gen = part_generator(p, parts, b, part, gen, device);
      ModelFamily::DensitySample s = family_->sample_with_density(*net.ptr(), count, particles_, part_gen);
      sampled[static_cast<std::size_t>(part)] = {s.events.to(at::kCPU), s.log_ratio.to(at::kCPU), s.nonpositive.to(at::kCPU)};
    });
    std::vector<at::Tensor> e, r, np;
    for (const auto& s : sampled) {
      e.push_back(s.events);
      r.push_back(s.log_ratio);
      np.push_back(s.nonpositive);
    }
    const at::Tensor batch = at::cat(e), ratio = at::cat(r), nonpositive = at::cat(np);
    result.worst_violation = std::max({result.worst_violation, conservation_violation(batch, sqrt_s_).max().item<double>(),
                                       mass_violation(batch, sqrt_s_).max().item<double>()});
    result.nonpositive_events += (nonpositive > 0).sum().item<std::int64_t>();
    result.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    done += n;
    if (on_batch) {
      on_batch(batch, ratio, nonpositive);
    } else {
      kept_events.push_back(batch);
      kept_ratios.push_back(ratio);
      kept_nonpositive.push_back(nonpositive);
    }
  }
  if (!kept_events.empty()) {
    result.events = at::cat(kept_events);
    result.log_ratio = at::cat(kept_ratios);
    result.nonpositive = at::cat(kept_nonpositive);
  }
  return result;
}

SampleResult Model::sample(std::int64_t events, const SampleOptions& o,
                           const std::function<void(const at::Tensor&)>& on_batch) const {
  const at::Device device = this->device();
  SampleResult result;
  result.plan = plan(events, o);
  const SamplePlan& p = result.plan;
  const bool trajectory = o.trajectory_every() > 0;
  at::Generator gen = make_generator(p.seed, device);
  std::vector<at::Tensor> kept_events, states;
  std::mutex state_mutex;
  std::int64_t batch_index = 0;
  const double cut = spec_.cut();
  for (std::int64_t done = 0; done < p.count;) {
    // With a cut, a batch is sized to the events still missing at the acceptance seen so far.
    std::int64_t n = std::min(o.batch(), p.count - done);
    if (cut > 0 && done > 0) {
      const double acceptance = static_cast<double>(done) / static_cast<double>(result.drawn);
      n = std::min<std::int64_t>(o.batch(), static_cast<std::int64_t>(std::ceil(static_cast<double>(p.count - done) / acceptance)) + 16);
    }
    const auto start = std::chrono::steady_clock::now();
    const bool record = trajectory && batch_index == 0;
    const auto b = static_cast<std::uint64_t>(batch_index++);
    const int parts = static_cast<int>(std::min<std::int64_t>(p.workers, n));
    std::vector<at::Tensor> sampled(static_cast<std::size_t>(parts));
    // The kept states: each part's share of the batch's first trajectory_events rows, per step.
    std::vector<std::vector<at::Tensor>> kept(static_cast<std::size_t>(parts));
    run_in_parts(n, parts, [&](int part, std::int64_t begin, std::int64_t count) {
      at::NoGradGuard no_grad;
      at::Generator part_gen = part_generator(p, parts, b, part, gen, device);
      const std::int64_t keep = std::clamp<std::int64_t>(o.trajectory_events() - begin, 0, count);
      // Every part's states are checked for exactness.
      auto keep_state = [&, part](std::int64_t t, const at::Tensor& state_events) {
        const double worst = std::max(conservation_violation(state_events, sqrt_s_).max().item<double>(),
                                      mass_violation(state_events, sqrt_s_).max().item<double>());
        std::lock_guard<std::mutex> lock(state_mutex);
        result.worst_state_violation = std::max(result.worst_state_violation, worst);
        if (part == 0) result.trajectory_steps.push_back(t);
        if (keep > 0) {
          kept[static_cast<std::size_t>(part)].push_back(
              state_events.narrow(0, 0, keep).to(at::kCPU, /*non_blocking=*/false, /*copy=*/true));
        }
      };
      sampled[static_cast<std::size_t>(part)] =
          family_->sample(*net_.ptr(), count, particles_, part_gen, record ? o.trajectory_every() : 0, keep_state).to(at::kCPU);
    });
    if (record) {
      for (std::size_t i = 0; i < kept.front().size(); ++i) {
        std::vector<at::Tensor> rows;
        for (const auto& part : kept) {
          if (i < part.size()) rows.push_back(part[i]);
        }
        states.push_back(at::cat(rows));
      }
    }
    at::Tensor batch = parts == 1 ? sampled.front() : at::cat(sampled);
    result.drawn += n;
    if (cut > 0) {
      // Smallest s_ij/s of each event: 2 min p_i.p_j / s.
      // A relative 1e-12 below the cut is round-off (of a Dalitz-plane model's events, which meet it).
      const at::Tensor keep = 2.0 * min_pair_dot(batch) / (sqrt_s_ * sqrt_s_) >= cut * (1.0 - 1e-12);
      batch = batch.index({keep});
      result.cut_dropped += n - batch.size(0);
      if (batch.size(0) > p.count - done) batch = batch.narrow(0, 0, p.count - done);
      PHASEGEN_CHECK(result.drawn < 1000 || static_cast<double>(done + batch.size(0)) >= 1e-3 * static_cast<double>(result.drawn),
                     "sample: the cut s_ij/s >= ", cut, " keeps ", done + batch.size(0), " of ", result.drawn,
                     " sampled events; the model does not make events that pass it");
    }
    result.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    done += batch.size(0);
    if (on_batch) {
      on_batch(batch);
    } else {
      kept_events.push_back(batch);
    }
  }
  if (!kept_events.empty()) result.events = kept_events.size() == 1 ? kept_events.front() : at::cat(kept_events);
  if (trajectory) result.trajectory = at::stack(states, 0);
  return result;
}

}  // namespace phasegen
