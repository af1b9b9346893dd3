// HepMC3 Asciiv3 files through libHepMC3: two beams into one vertex, N status-1 particles out.
// LibTorch's headers come first: HepMC3 defines an ERROR macro that glog refuses to follow.
#include <algorithm>

#include "atomic_file.hpp"
#include "io_detail.hpp"
#include "phasegen/core/error.hpp"

#include <HepMC3/Attribute.h>
#include <HepMC3/GenCrossSection.h>
#include <HepMC3/GenEvent.h>
#include <HepMC3/GenParticle.h>
#include <HepMC3/GenRunInfo.h>
#include <HepMC3/GenVertex.h>
#include <HepMC3/ReaderAscii.h>
#include <HepMC3/Setup.h>
#include <HepMC3/WriterAscii.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace phasegen::detail {

namespace {

constexpr const char* kRunAttribute = "phasegen_run";
constexpr const char* kEndListing = "HepMC::Asciiv3-END_EVENT_LISTING";

// HepMC3 reports problems on stderr by default; phasegen reports them through exceptions.
void silence_hepmc3() {
  HepMC3::Setup::set_print_errors(false);
  HepMC3::Setup::set_print_warnings(false);
  HepMC3::Setup::set_debug_level(0);  // its debug messages go to stdout
}

// Length of the attribute name in an 'A' line, found as HepMC3 3.1.2's ReaderAscii finds it: for a
// run attribute ("A name value") the text after the first space up to the next one, for an event
// attribute ("A id name value") the same after the second space; 0 where it finds none.
std::size_t attribute_name_length(const std::string& line, bool event_attribute) {
  std::size_t cursor = line.find(' ', 1);
  if (cursor != std::string::npos && event_attribute) cursor = line.find(' ', cursor + 1);
  if (cursor == std::string::npos) return 0;
  const std::size_t end = line.find(' ', cursor + 1);
  return end == std::string::npos ? 0 : end - cursor - 1;
}

// The number ReaderAscii (3.1.2) reads with atoi at `pos` of `line`, and the position of the field after
// the next space, which is how it steps through a line (npos where there is none).
int field_after(const std::string& line, std::size_t& pos) {
  pos = pos == std::string::npos ? pos : line.find(' ', pos + 1);
  return pos == std::string::npos ? 0 : static_cast<int>(std::strtol(line.c_str() + pos, nullptr, 10));
}

// The particle ids in the list of a vertex line "V id status [p1,p2,...] ...", found as ReaderAscii
// finds them.
std::vector<int> vertex_particle_ids(const std::string& line) {
  std::vector<int> ids;
  std::size_t cursor = 0;
  field_after(line, cursor);  // id
  field_after(line, cursor);  // status
  if (cursor == std::string::npos || (cursor = line.find('[', cursor + 1)) == std::string::npos) return ids;
  while (true) {
    ++cursor;
    ids.push_back(static_cast<int>(std::strtol(line.c_str() + cursor, nullptr, 10)));
    const std::size_t comma = line.find(',', cursor + 1);
    if (comma == std::string::npos) return ids;
    cursor = comma;
  }
}

// Refuses the lines that crash libHepMC3 3.1.2's ReaderAscii, before it sees them: an attribute name
// longer than the 64-byte buffer it is copied into (a stack overflow), a line ending in a lone
// backslash, an unfinished escape, where unescape() runs past the end of the string, and a vertex
// naming an incoming particle beyond its event's particle count, which it looks up without a bounds
// check once the event is read.
void check_hepmc3_lines(const std::string& path) {
  constexpr std::size_t kLongestName = 63;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  int event_particles = 0;  // as the last 'E' line declares
  // As in ReaderAscii::read_event: attribute lines between an 'E' line and the next "HepMC..." line
  // belong to the event, all others to the run.
  bool in_event = false;
  for (std::int64_t number = 1; std::getline(in, line); ++number) {
    line.resize(std::strlen(line.c_str()));  // ReaderAscii reads C strings: a NUL ends the line
    if (line.empty()) continue;
    if (line.compare(0, 5, "HepMC") == 0) in_event = false;
    if (line[0] == 'E') {
      in_event = true;
      std::size_t cursor = 0;
      field_after(line, cursor);  // event number
      field_after(line, cursor);  // vertices
      event_particles = field_after(line, cursor);
    }
    if (line[0] == 'V') {
      const std::size_t list = line.find('[');
      PHASEGEN_CHECK(list == std::string::npos || line.find(']', list) != std::string::npos, "'", path, "' line ",
                     number, ": the vertex's particle list is not closed");
      for (const int id : vertex_particle_ids(line)) {
        PHASEGEN_CHECK(id <= event_particles, "'", path, "' line ", number, ": the vertex lists particle ", id,
                       ", but its event has ", event_particles, " particles");
      }
    }
    const std::size_t last = line.find_last_not_of('\\');
    const std::size_t backslashes = line.size() - (last == std::string::npos ? 0 : last + 1);
    PHASEGEN_CHECK(backslashes % 2 == 0, "'", path, "' line ", number,
                   ": ends in a lone backslash (an unfinished escape)");
    if (line[0] == 'A') {
      const std::size_t name = attribute_name_length(line, in_event);
      PHASEGEN_CHECK(name <= kLongestName, "'", path, "' line ", number, ": expected an attribute name of at most ",
                     kLongestName, " characters (HepMC3's limit), but got ", name);
    }
  }
}

// The generated mass is set, not left to HepMC3, which would take sqrt of a round-off residue.
HepMC3::GenParticlePtr massless(const HepMC3::FourVector& p, int pdg_id, int status) {
  auto particle = std::make_shared<HepMC3::GenParticle>(p, pdg_id, status);
  particle->set_generated_mass(0.0);
  return particle;
}

class HepMC3Writer final : public FileEventWriter {
 public:
  HepMC3Writer(const std::string& path, const WriterOptions& options)
      : FileEventWriter(path, options), ids_(expand_pdg_ids(options)) {
    silence_hepmc3();
    run_ = std::make_shared<HepMC3::GenRunInfo>();
    run_->tools().push_back({"phasegen", options.run.version + " (" + options.run.commit + ")",
                             options.run.description});
    weighted_ = options.weights.mode != WeightInfo::Mode::kNone;
    run_->set_weight_names({weighted_ ? options.weights.name : std::string("Default")});
    run_->add_attribute(kRunAttribute, std::make_shared<HepMC3::StringAttribute>(run_info_to_text(options.run)));
    writer_ = std::make_unique<HepMC3::WriterAscii>(file_.stream(), run_);
    writer_->set_precision(17);
  }

  void close() override {
    writer_->close();
    file_.commit();
  }

 private:
  // Events [b, N, 4] with their weights (nullptr: 1 each). A weighted file's every event carries the
  // run's cross section (GenCrossSection), as HepMC3 readers expect it on the last event read.
  void write_rows(const at::Tensor& p, const at::Tensor& w) override {
    const double* weights = w.defined() ? w.data_ptr<double>() : nullptr;
    const double* data = p.data_ptr<double>();
    const double half = 0.5 * options_.sqrt_s;
    const std::int64_t n = options_.particles;
    for (std::int64_t k = 0; k < p.size(0); ++k) {
      HepMC3::GenEvent event(run_, HepMC3::Units::GEV, HepMC3::Units::MM);
      event.set_event_number(static_cast<int>(written_ + 1));
      auto vertex = std::make_shared<HepMC3::GenVertex>();
      vertex->add_particle_in(massless(HepMC3::FourVector(0, 0, half, half), options_.beam_ids.first, 4));
      vertex->add_particle_in(massless(HepMC3::FourVector(0, 0, -half, half), options_.beam_ids.second, 4));
      for (std::int64_t i = 0; i < n; ++i) {
        const double* v = data + (k * n + i) * 4;
        vertex->add_particle_out(massless(HepMC3::FourVector(v[1], v[2], v[3], v[0]), ids_[i], 1));
      }
      event.add_vertex(vertex);
      event.weights() = {weights ? weights[k] : 1.0};
      if (weighted_) {
        auto cross_section = std::make_shared<HepMC3::GenCrossSection>();
        event.set_cross_section(cross_section);  // attached first: it sizes itself by the event's weights
        cross_section->set_cross_section(options_.weights.cross_section, options_.weights.error);
      }
      writer_->write_event(event);
      ++written_;
    }
    PHASEGEN_CHECK(!writer_->failed() && file_.stream().good(), "writing '", file_.path(),
                   "' failed: an I/O error (disk full?)");
  }

  bool weighted_ = false;
  std::vector<int> ids_;
  std::shared_ptr<HepMC3::GenRunInfo> run_;
  std::unique_ptr<HepMC3::WriterAscii> writer_;
};

}  // namespace

std::unique_ptr<EventWriter> open_hepmc3_writer(const std::string& path, const WriterOptions& options) {
  return std::make_unique<HepMC3Writer>(path, options);
}

RawEvents read_hepmc3(const std::string& path) {
  silence_hepmc3();
  // A file cut short loses its closing line; HepMC3 itself would read the torso as complete.
  PHASEGEN_CHECK(file_tail(path, 4096).find(kEndListing) != std::string::npos, "'", path,
                 "' is not a complete HepMC3 Asciiv3 file (truncated?): it does not end with ", kEndListing);
  check_hepmc3_lines(path);
  std::ifstream in(path);
  EventCollector collector("'" + path + "'");
  RawEvents raw;
  std::vector<double> values;
  std::vector<int> ids;
  std::vector<double> weights;
  double cross_section = 0.0, cross_section_error = 0.0;
  bool has_cross_section = false;
  // ReaderAscii throws std::logic_error for some inconsistencies (a weight count that differs from
  // the run's weight names) where it reports others through failed().
  try {
    HepMC3::ReaderAscii reader(in);
    while (true) {
      HepMC3::GenEvent event;
      const bool ok = reader.read_event(event);
      if (!ok || reader.failed()) {
        PHASEGEN_CHECK(in.eof(), "'", path, "': cannot parse event ", collector.events() + 1,
                       " as HepMC3 Asciiv3");
        break;
      }
      const double to_gev = event.momentum_unit() == HepMC3::Units::MEV ? 1e-3 : 1.0;
      values.clear();
      ids.clear();
      for (const auto& particle : event.particles()) {
        if (particle->status() != 1) continue;
        const auto& m = particle->momentum();
        values.insert(values.end(), {m.e() * to_gev, m.px() * to_gev, m.py() * to_gev, m.pz() * to_gev});
        ids.push_back(particle->pid());
      }
      collector.add(values, ids);
      weights.push_back(event.weights().empty() ? 1.0 : event.weights().front());
      if (auto xs = event.cross_section()) {
        cross_section = xs->xsec();
        cross_section_error = xs->xsec_err();
        has_cross_section = true;
      }
    }
    std::vector<std::string> weight_names;
    if (auto run = reader.run_info()) {
      weight_names = run->weight_names();
      if (run->attribute<HepMC3::StringAttribute>(kRunAttribute)) {
        raw.run = run_info_from_text(run->attribute<HepMC3::StringAttribute>(kRunAttribute)->value());
      }
    }
    // Weights count where phasegen wrote them, or where another generator's differ from 1.
    raw.weight_info = weight_info_from_run(raw.run);
    const bool all_one = std::all_of(weights.begin(), weights.end(), [](double w) { return w == 1.0; });
    if (raw.weight_info.mode != WeightInfo::Mode::kNone || !all_one) {
      raw.weights = at::tensor(weights, at::kDouble);
      if (raw.weight_info.mode == WeightInfo::Mode::kNone) {
        raw.weight_info.mode = WeightInfo::Mode::kWeighted;
        if (!weight_names.empty()) raw.weight_info.name = weight_names.front();
        if (has_cross_section) {
          raw.weight_info.cross_section = cross_section;
          raw.weight_info.error = cross_section_error;
          raw.weight_info.unit = "pb";  // HepMC3's convention
        }
      }
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(concat("'", path, "': cannot parse event ", collector.events() + 1, " as HepMC3 Asciiv3: ",
                       e.what()));
  }
  raw.momenta = collector.momenta();
  raw.pdg_ids = collector.first_pdg_ids();
  return raw;
}

}  // namespace phasegen::detail
