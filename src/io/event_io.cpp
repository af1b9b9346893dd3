#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include "atomic_file.hpp"
#include "io_detail.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/version.hpp"

namespace phasegen {

namespace {

std::string lowercase_extension(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

std::string escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '<': out += "\\l"; break;
      case '>': out += "\\g"; break;
      case '&': out += "\\a"; break;
      default: out += c;
    }
  }
  return out;
}

std::string unescape(const std::string& value) {
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '\\' || i + 1 == value.size()) {
      out += value[i];
      continue;
    }
    switch (value[++i]) {
      case 'n': out += '\n'; break;
      case 'l': out += '<'; break;
      case 'g': out += '>'; break;
      case 'a': out += '&'; break;
      default: out += value[i];
    }
  }
  return out;
}

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

}  // namespace

EventFormat format_from_path(const std::string& path) {
  const std::string ext = lowercase_extension(path);
  if (ext == ".pt") return EventFormat::kPt;
  if (ext == ".hepmc3" || ext == ".hepmc") return EventFormat::kHepMC3;
  if (ext == ".lhe") return EventFormat::kLhe;
  throw Error(detail::concat("cannot tell the event format of '", path, "' from its extension",
                             ext.empty() ? std::string() : " '" + ext + "'",
                             ": expected .pt, .hepmc3 (or .hepmc) or .lhe"));
}

const char* format_name(EventFormat format) {
  switch (format) {
    case EventFormat::kPt: return "pt";
    case EventFormat::kHepMC3: return "hepmc3";
    case EventFormat::kLhe: return "lhe";
  }
  return "unknown";
}

RunInfo make_run_info(std::string description) {
  RunInfo run;
  run.description = std::move(description);
  run.version = kVersion;
  run.commit = kGitCommit;
  return run;
}

const char* weight_mode_name(WeightInfo::Mode mode) {
  switch (mode) {
    case WeightInfo::Mode::kNone: return "none";
    case WeightInfo::Mode::kWeighted: return "weighted";
    case WeightInfo::Mode::kUnweighted: return "unweighted";
  }
  return "none";
}

std::unique_ptr<EventWriter> open_event_writer(const std::string& path, const WriterOptions& options) {
  PHASEGEN_CHECK(options.particles >= 2, "cannot write '", path, "': expected N >= 2 particles, but got ",
                 options.particles);
  PHASEGEN_CHECK(std::isfinite(options.sqrt_s) && options.sqrt_s > 0, "cannot write '", path,
                 "': expected sqrt_s > 0, but got ", options.sqrt_s);
  detail::expand_pdg_ids(options);  // checks the id count before any file is made
  WriterOptions o = options;
  if (o.weights.mode != WeightInfo::Mode::kNone) {
    const WeightInfo& w = o.weights;
    PHASEGEN_CHECK(std::isfinite(w.cross_section) && w.cross_section >= 0 && std::isfinite(w.error) && w.error >= 0 &&
                       std::isfinite(w.max_weight) && w.max_weight >= 0 && !w.name.empty(),
                   "cannot write '", path, "': expected a named weight with a finite cross section, error and largest weight");
    for (auto& attribute : detail::weight_attributes(w)) o.run.attributes.push_back(std::move(attribute));
  }
  switch (format_from_path(path)) {
    case EventFormat::kPt: return detail::open_pt_writer(path, o);
    case EventFormat::kHepMC3: return detail::open_hepmc3_writer(path, o);
    case EventFormat::kLhe: return detail::open_lhe_writer(path, o);
  }
  throw Error("unreachable event format");
}

EventSet read_events(const std::string& path, const ReadOptions& options) {
  const EventFormat format = format_from_path(path);
  detail::check_readable(path);
  detail::RawEvents raw;
  switch (format) {
    case EventFormat::kPt: raw = detail::read_pt(path); break;
    case EventFormat::kHepMC3: raw = detail::read_hepmc3(path); break;
    case EventFormat::kLhe: raw = detail::read_lhe(path); break;
  }
  PHASEGEN_CHECK(raw.momenta.defined() && raw.momenta.size(0) > 0, "'", path, "' holds no events");
  PHASEGEN_CHECK(raw.momenta.size(1) >= 2, "'", path, "': expected events of N >= 2 particles, but got N = ",
                 raw.momenta.size(1));
  const double tolerance = raw.single_precision ? std::max(options.tolerance, 1e-5) : options.tolerance;
  EventSet set;
  set.momenta = raw.momenta;
  if (options.require_conservation) {
    set.sqrt_s = raw.momenta[0].select(1, 0).sum().item<double>();
  } else {
    set.sqrt_s = options.sqrt_s > 0 ? options.sqrt_s : raw.momenta.select(2, 0).sum(1).mean().item<double>();
  }
  validate_events(set.momenta, set.sqrt_s, tolerance, "'" + path + "'", options.require_conservation);
  set.pdg_ids = std::move(raw.pdg_ids);
  set.run = std::move(raw.run);
  if (raw.weights.defined()) {
    PHASEGEN_CHECK(raw.weights.dim() == 1 && raw.weights.size(0) == set.momenta.size(0), "'", path, "': expected one weight per event (",
                   set.momenta.size(0), "), but got ", raw.weights.sizes());
    const at::Tensor bad = ~at::isfinite(raw.weights) | (raw.weights < 0);
    if (bad.any().item<bool>()) {
      const std::int64_t k = bad.nonzero()[0][0].item<std::int64_t>();
      throw Error(detail::concat("'", path, "': event ", k + 1, ": expected a finite weight >= 0, but got ",
                                 raw.weights[k].item<double>()));
    }
    set.weights = raw.weights.to(at::kDouble).contiguous();
    set.weight_info = raw.weight_info;
    if (set.weight_info.mode == WeightInfo::Mode::kNone) set.weight_info.mode = WeightInfo::Mode::kWeighted;
  }
  return set;
}

void validate_events(const at::Tensor& momenta, double sqrt_s, double tolerance, const std::string& source,
                     bool conservation) {
  PHASEGEN_CHECK(momenta.dim() == 3 && momenta.size(2) == 4, source,
                 ": expected events of shape [n, N, 4], but got ", momenta.sizes());
  PHASEGEN_CHECK(std::isfinite(sqrt_s) && sqrt_s > 0, source,
                 ": expected a positive total energy, but the first event has sum E = ", sqrt_s);
  at::Tensor p = momenta.to(at::kDouble);
  auto first = [](const at::Tensor& bad) { return bad.nonzero()[0][0].item<std::int64_t>(); };
  at::Tensor finite = at::isfinite(p).flatten(1).all(1);
  if (!finite.all().item<bool>()) {
    throw Error(detail::concat(source, ": event ", first(finite.logical_not()) + 1,
                               ": a momentum component is NaN or infinite"));
  }
  at::Tensor energy = p.select(2, 0);
  at::Tensor negative = (energy < 0).any(1);
  if (negative.any().item<bool>()) {
    throw Error(detail::concat(source, ": event ", first(negative) + 1, ": a particle has negative energy"));
  }
  at::Tensor norm = at::linalg_vector_norm(p.narrow(2, 1, 3), 2, {2}, false, c10::nullopt);
  at::Tensor mass_dev = std::get<0>((energy - norm).abs().max(1)) / sqrt_s;
  at::Tensor massive = mass_dev > tolerance;
  if (massive.any().item<bool>()) {
    const auto k = first(massive);
    const auto i = (energy[k] - norm[k]).abs().argmax().item<std::int64_t>();
    throw Error(detail::concat(source, ": event ", k + 1, ", particle ", i + 1,
                               ": expected a massless particle (E = |p|), but E - |p| = ",
                               (energy[k][i] - norm[k][i]).item<double>(), " GeV (",
                               mass_dev[k].item<double>(), " of sqrt_s; tolerance ", tolerance, ")"));
  }
  if (!conservation) return;
  at::Tensor total = p.sum(1);
  at::Tensor energy_dev = (total.select(1, 0) - sqrt_s).abs() / sqrt_s;
  at::Tensor momentum_dev = std::get<0>(total.narrow(1, 1, 3).abs().max(1)) / sqrt_s;
  at::Tensor off_energy = energy_dev > tolerance;
  at::Tensor off_frame = momentum_dev > tolerance;
  at::Tensor bad = off_energy | off_frame;
  if (bad.any().item<bool>()) {
    const auto k = first(bad);
    at::Tensor t = total[k];
    if (off_frame[k].item<bool>()) {
      throw Error(detail::concat(source, ": event ", k + 1,
                                 ": expected the centre-of-momentum frame, but the total momentum is (",
                                 t[1].item<double>(), ", ", t[2].item<double>(), ", ", t[3].item<double>(),
                                 ") GeV (", momentum_dev[k].item<double>(), " of sqrt_s; tolerance ",
                                 tolerance, ")"));
    }
    throw Error(detail::concat(source, ": event ", k + 1, ": expected total energy ", sqrt_s,
                               " GeV (that of event 1), but got ", t[0].item<double>(), " GeV"));
  }
}

namespace detail {

std::vector<int> expand_pdg_ids(const WriterOptions& options) {
  if (options.pdg_ids.empty()) return std::vector<int>(options.particles, 22);
  if (options.pdg_ids.size() == 1) return std::vector<int>(options.particles, options.pdg_ids[0]);
  PHASEGEN_CHECK(static_cast<std::int64_t>(options.pdg_ids.size()) == options.particles,
                 "expected 1 or ", options.particles, " PDG ids (one per particle), but got ",
                 options.pdg_ids.size());
  return options.pdg_ids;
}

at::Tensor writable_batch(const at::Tensor& events, const WriterOptions& options, const std::string& path) {
  PHASEGEN_CHECK(events.dim() == 3 && events.size(1) == options.particles && events.size(2) == 4,
                 "writing '", path, "': expected events of shape [batch, ", options.particles,
                 ", 4], but got ", events.sizes());
  return events.detach().to(at::kCPU, at::kDouble).contiguous();
}

void FileEventWriter::write(const at::Tensor& events) {
  PHASEGEN_CHECK(options_.weights.mode == WeightInfo::Mode::kNone, "writing '", file_.path(),
                 "': the file is ", weight_mode_name(options_.weights.mode), ": expected a weight with every event");
  write_rows(writable_batch(events, options_, file_.path()), at::Tensor());
}

void FileEventWriter::write(const at::Tensor& events, const at::Tensor& weights) {
  PHASEGEN_CHECK(options_.weights.mode != WeightInfo::Mode::kNone, "writing '", file_.path(),
                 "': weights given for a file opened without them (set WriterOptions::weights)");
  PHASEGEN_CHECK(weights.dim() == 1 && events.dim() >= 1 && weights.size(0) == events.size(0), "writing '", file_.path(),
                 "': expected one weight per event, but got ", weights.sizes(), " for ", events.sizes());
  const at::Tensor w = weights.detach().to(at::kCPU, at::kDouble).contiguous();
  PHASEGEN_CHECK((at::isfinite(w) & (w >= 0)).all().item<bool>(), "writing '", file_.path(),
                 "': expected finite weights >= 0");
  write_rows(writable_batch(events, options_, file_.path()), w);
}

namespace {

std::string exact_number(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

}  // namespace

std::vector<std::pair<std::string, std::string>> weight_attributes(const WeightInfo& info) {
  return {{"weights", weight_mode_name(info.mode)},
          {"weight_name", info.name},
          {"cross_section", exact_number(info.cross_section)},
          {"cross_section_error", exact_number(info.error)},
          {"cross_section_unit", info.unit},
          {"max_weight", exact_number(info.max_weight)}};
}

WeightInfo weight_info_from_run(const RunInfo& run) {
  WeightInfo info;
  auto number = [](const std::string& text) {
    try {
      return std::stod(text);
    } catch (const std::exception&) {
      return 0.0;
    }
  };
  for (const auto& [key, value] : run.attributes) {
    if (key == "weights") {
      info.mode = value == "weighted" ? WeightInfo::Mode::kWeighted
                  : value == "unweighted" ? WeightInfo::Mode::kUnweighted
                                          : WeightInfo::Mode::kNone;
    } else if (key == "weight_name") {
      info.name = value;
    } else if (key == "cross_section") {
      info.cross_section = number(value);
    } else if (key == "cross_section_error") {
      info.error = number(value);
    } else if (key == "cross_section_unit") {
      info.unit = value;
    } else if (key == "max_weight") {
      info.max_weight = number(value);
    }
  }
  return info;
}

std::string run_info_to_text(const RunInfo& run) {
  std::ostringstream out;
  out << "version = " << escape(run.version) << '\n';
  out << "commit = " << escape(run.commit) << '\n';
  out << "description = " << escape(run.description) << '\n';
  if (run.seed) out << "seed = " << *run.seed << '\n';
  for (const auto& [key, value] : run.attributes) out << escape(key) << " = " << escape(value) << '\n';
  return out.str();
}

RunInfo run_info_from_text(const std::string& text) {
  RunInfo run;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    const std::string key = unescape(trim(line.substr(0, eq)));
    const std::string value = unescape(line.substr(eq + 3));
    if (key == "version") {
      run.version = value;
    } else if (key == "commit") {
      run.commit = value;
    } else if (key == "description") {
      run.description = value;
    } else if (key == "seed") {
      try {
        run.seed = std::stoull(value);
      } catch (const std::exception&) {
        run.attributes.emplace_back(key, value);
      }
    } else {
      run.attributes.emplace_back(key, value);
    }
  }
  return run;
}

void EventCollector::add(const std::vector<double>& values, const std::vector<int>& pdg_ids) {
  const auto n = static_cast<std::int64_t>(values.size() / 4);
  ++events_;
  if (particles_ < 0) {
    particles_ = n;
    first_ids_ = pdg_ids;
  }
  PHASEGEN_CHECK(n == particles_, source_, ": event ", events_, ": expected ", particles_,
                 " final-state particles (as in event 1), but got ", n);
  data_.insert(data_.end(), values.begin(), values.end());
}

at::Tensor EventCollector::momenta() const {
  if (events_ == 0) return at::empty({0, 0, 4}, at::kDouble);
  return at::tensor(data_, at::kDouble).view({events_, particles_, 4});
}

}  // namespace detail

}  // namespace phasegen
