// Les Houches event files (v3): written through HepMC3's LHEF.h with 17 significant digits, read by a
// line parser of phasegen's own. LHEF's Reader (HepMC3 3.1.2) is not fit for files from elsewhere: it
// leaks its tag tree when an event does not parse, can spend minutes on unbalanced tags, sizes its
// arrays from counts in the file, and opens (and announces on stderr) further files that an
// <eventfile> tag names.
#include <HepMC3/LHEF.h>

#include <array>
#include <cstdlib>
#include <cctype>
#include <fstream>
#include <sstream>

#include "atomic_file.hpp"
#include "io_detail.hpp"
#include "phasegen/core/error.hpp"

namespace phasegen::detail {

namespace {

constexpr const char* kOpenTag = "<phasegen>";
constexpr const char* kCloseTag = "</phasegen>";
constexpr const char* kEndTag = "</LesHouchesEvents>";

// Whether `line`, after leading blanks, opens the tag `tag`: "<event" matches "<event>" and
// "<event npLO=...>", not "<eventgroup>".
bool starts_with_tag(const std::string& line, const std::string& tag) {
  const auto begin = line.find_first_not_of(" \t");
  if (begin == std::string::npos || line.compare(begin, tag.size(), tag) != 0) return false;
  const auto after = begin + tag.size();
  return after == line.size() || !std::isalnum(static_cast<unsigned char>(line[after]));
}

// Whether the first non-blank character of `line` is '<': a tag, not numbers.
bool is_markup(const std::string& line) {
  const auto begin = line.find_first_not_of(" \t");
  return begin != std::string::npos && line[begin] == '<';
}

// A file read line by line, with the line number for messages.
class LineScanner {
 public:
  LineScanner(std::istream& in, std::string path) : in_(in), path_(std::move(path)) {}

  /// Moves to the next line; false (and an empty line) at the end of the file.
  bool next() {
    if (!std::getline(in_, line_)) {
      done_ = true;
      line_.clear();
      return false;
    }
    ++number_;
    return true;
  }
  const std::string& line() const { return line_; }
  std::int64_t number() const { return number_; }
  bool done() const { return done_; }

  /// Throws phasegen::Error naming the file and the line unless `cond` holds.
  template <typename... Parts>
  void check(bool cond, const Parts&... parts) const {
    if (cond) return;
    throw Error(done_ ? concat("'", path_, "' ends too early: ", parts...)
                      : concat("'", path_, "' line ", number_, ": ", parts...));
  }

 private:
  std::istream& in_;
  std::string path_;
  std::string line_;
  std::int64_t number_ = 0;
  bool done_ = false;
};

class LheWriter final : public FileEventWriter {
 public:
  LheWriter(const std::string& path, const WriterOptions& options)
      : FileEventWriter(path, options), ids_(expand_pdg_ids(options)) {
    // LHEF ends every particle line with std::endl; writing into a buffer and moving it to the
    // file once per batch avoids a system call per line.
    writer_ = std::make_unique<LHEF::Writer>(buffer_);
    auto& run = writer_->heprup;
    run.IDBMUP = {options.beam_ids.first, options.beam_ids.second};
    run.EBMUP = {0.5 * options.sqrt_s, 0.5 * options.sqrt_s};
    run.PDFGUP = {0, 0};
    run.PDFSUP = {0, 0};
    // IDWTUP 3: unweighted events of weight +1 (the cross section in XSECUP where known); 4: weighted
    // events whose mean XWGTUP is the cross section.
    const WeightInfo& w = options.weights;
    run.IDWTUP = w.mode == WeightInfo::Mode::kWeighted ? 4 : 3;
    run.resize(1);
    run.XSECUP[0] = w.mode == WeightInfo::Mode::kNone ? 1.0 : w.cross_section;
    run.XERRUP[0] = w.mode == WeightInfo::Mode::kNone ? 0.0 : w.error;
    run.XMAXUP[0] = w.mode == WeightInfo::Mode::kNone ? 1.0 : w.max_weight;
    run.LPRUP[0] = 1;
    run.version = 3;
    run.dprec = 17;
    writer_->headerBlock() << kOpenTag << '\n' << run_info_to_text(options.run) << kCloseTag << '\n';
    writer_->init();
    auto& event = writer_->hepeup;
    event.heprup = &writer_->heprup;
    event.resize(static_cast<int>(options.particles) + 2);
    event.IDPRUP = 1;
    event.XWGTUP = 1.0;
    event.SCALUP = options.sqrt_s;
    event.AQEDUP = -1.0;
    event.AQCDUP = -1.0;
    const double half = 0.5 * options.sqrt_s;
    event.IDUP[0] = options.beam_ids.first;
    event.IDUP[1] = options.beam_ids.second;
    event.PUP[0] = {0.0, 0.0, half, half, 0.0};
    event.PUP[1] = {0.0, 0.0, -half, half, 0.0};
    for (int i = 0; i < event.NUP; ++i) {
      const bool beam = i < 2;
      if (!beam) event.IDUP[i] = ids_[i - 2];
      event.ISTUP[i] = beam ? -1 : 1;
      event.MOTHUP[i] = beam ? std::make_pair(0, 0) : std::make_pair(1, 2);
      event.ICOLUP[i] = {0, 0};
      event.VTIMUP[i] = 0.0;
      event.SPINUP[i] = 9.0;
    }
    drain();
  }

  void close() override {
    writer_.reset();  // writes the closing tag
    drain();
    file_.commit();
  }

 private:
  // Events [b, N, 4] with their weights XWGTUP (nullptr: 1 each).
  void write_rows(const at::Tensor& p, const at::Tensor& w) override {
    const double* weights = w.defined() ? w.data_ptr<double>() : nullptr;
    const double* data = p.data_ptr<double>();
    const std::int64_t n = options_.particles;
    auto& event = writer_->hepeup;
    for (std::int64_t k = 0; k < p.size(0); ++k) {
      for (std::int64_t i = 0; i < n; ++i) {
        const double* v = data + (k * n + i) * 4;
        event.PUP[i + 2] = {v[1], v[2], v[3], v[0], 0.0};
      }
      event.XWGTUP = weights ? weights[k] : 1.0;
      writer_->writeEvent();
      ++written_;
    }
    drain();
    PHASEGEN_CHECK(file_.stream().good(), "writing '", file_.path(), "' failed: an I/O error (disk full?)");
  }

  void drain() {
    const std::string text = buffer_.str();
    file_.stream().write(text.data(), static_cast<std::streamsize>(text.size()));
    buffer_.str(std::string());
  }

  std::vector<int> ids_;
  std::stringstream buffer_;
  std::unique_ptr<LHEF::Writer> writer_;
};

}  // namespace

std::unique_ptr<EventWriter> open_lhe_writer(const std::string& path, const WriterOptions& options) {
  return std::make_unique<LheWriter>(path, options);
}

RawEvents read_lhe(const std::string& path) {
  PHASEGEN_CHECK(file_tail(path, 4096).find(kEndTag) != std::string::npos, "'", path,
                 "' is not a complete Les Houches event file (truncated?): it does not end with ", kEndTag);
  std::ifstream in(path);
  LineScanner scan(in, path);
  RawEvents raw;
  EventCollector collector("'" + path + "'");
  scan.next();
  scan.check(scan.line().find("<LesHouchesEvents") != std::string::npos,
             "expected a Les Houches event file, starting with <LesHouchesEvents");

  // Header and init block: the run information lives between <phasegen> and </phasegen>.
  std::string header;
  while (scan.next() && !starts_with_tag(scan.line(), "<init")) header += scan.line() + '\n';
  scan.check(!scan.done(), "expected an <init> block");
  const auto open = header.find(kOpenTag);
  const auto close = header.find(kCloseTag);
  if (open != std::string::npos && close != std::string::npos && close > open) {
    const auto start = open + std::string(kOpenTag).size();
    raw.run = run_info_from_text(header.substr(start, close - start));
  }
  scan.check(scan.next(), "expected the beams line of the <init> block");
  std::istringstream beams(scan.line());
  int id = 0, idwtup = 0;
  double number = 0.0;
  beams >> id >> id >> number >> number >> id >> id >> id >> id >> idwtup >> id;
  scan.check(!beams.fail(), "expected the <init> line IDBMUP(2) EBMUP(2) PDFGUP(2) PDFSUP(2) IDWTUP NPRUP");
  double xsecup = 0.0, xerrup = 0.0, xmaxup = 0.0;
  bool has_process = false;
  while (scan.next() && scan.line().find("</init>") == std::string::npos) {
    if (has_process || is_markup(scan.line())) continue;
    std::istringstream process(scan.line());  // XSECUP XERRUP XMAXUP LPRUP of the first process
    process >> xsecup >> xerrup >> xmaxup;
    has_process = !process.fail();
  }
  scan.check(!scan.done(), "expected </init> to close the <init> block");

  std::vector<double> values;
  std::vector<int> ids;
  std::vector<double> weights;
  while (scan.next() && scan.line().find(kEndTag) == std::string::npos) {
    scan.check(!starts_with_tag(scan.line(), "<eventgroup"), "expected <event>, but got <eventgroup> (not supported)");
    if (!starts_with_tag(scan.line(), "<event")) continue;  // comments and other blocks between events
    const std::string event = concat("event ", collector.events() + 1, ": ");
    int particles = 0, process = 0;
    double weight = 0, scale = 0, alpha_qed = 0, alpha_qcd = 0;
    scan.next();
    std::istringstream head(scan.line());
    head >> particles >> process >> weight >> scale >> alpha_qed >> alpha_qcd;
    scan.check(!head.fail() && particles > 0, event,
               "expected the line NUP IDPRUP XWGTUP SCALUP AQEDUP AQCDUP with NUP > 0");
    values.clear();
    ids.clear();
    // NUP is checked against the lines there are, never used to size anything beforehand.
    for (int i = 1; i <= particles; ++i) {
      scan.next();
      scan.check(!scan.done() && !is_markup(scan.line()), event, "expected NUP = ", particles,
                 " particle lines, but particle ", i, " is missing");
      std::istringstream line(scan.line());
      int pdg_id = 0, status = 0;
      std::array<double, 11> rest{};  // MOTHUP(2) ICOLUP(2) PUP(5) = (px, py, pz, E, m) VTIMUP SPINUP
      line >> pdg_id >> status;
      for (double& x : rest) line >> x;
      scan.check(!line.fail(), event, "particle ", i,
                 ": expected the 13 numbers IDUP ISTUP MOTHUP(2) ICOLUP(2) PUP(5) VTIMUP SPINUP");
      if (status != 1) continue;
      const double* pup = rest.data() + 4;
      values.insert(values.end(), {pup[3], pup[0], pup[1], pup[2]});
      ids.push_back(pdg_id);
    }
    // Optional blocks (weights, scales, comments) up to the closing tag.
    while (scan.line().find("</event>") == std::string::npos) {
      scan.next();
      scan.check(!scan.done() && !starts_with_tag(scan.line(), "<event"), event, "expected </event> to close it");
    }
    collector.add(values, ids);
    weights.push_back(weight);
  }
  raw.momenta = collector.momenta();
  raw.pdg_ids = collector.first_pdg_ids();
  // Weights count where phasegen wrote them, and in a weighted file (|IDWTUP| 1, 2 or 4) of another
  // generator; an unweighted one (|IDWTUP| 3) reads as unit weights.
  raw.weight_info = weight_info_from_run(raw.run);
  const bool weighted_file = std::abs(idwtup) != 3;
  if (raw.weight_info.mode != WeightInfo::Mode::kNone || (weighted_file && idwtup != 0)) {
    raw.weights = at::tensor(weights, at::kDouble);
    if (raw.weight_info.mode == WeightInfo::Mode::kNone) {
      raw.weight_info.mode = WeightInfo::Mode::kWeighted;
      raw.weight_info.cross_section = xsecup;
      raw.weight_info.error = xerrup;
      raw.weight_info.max_weight = xmaxup;
      raw.weight_info.unit = "pb";  // the Les Houches convention
    }
  }
  return raw;
}

}  // namespace phasegen::detail
