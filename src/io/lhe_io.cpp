// Les Houches event files (v3) through HepMC3's LHEF.h, 17 significant digits.
#include <HepMC3/LHEF.h>

#include <fstream>
#include <sstream>

#include "atomic_file.hpp"
#include "io_detail.hpp"
#include "phasegen/error.hpp"

namespace phasegen::detail {

namespace {

constexpr const char* kOpenTag = "<phasegen>";
constexpr const char* kCloseTag = "</phasegen>";
constexpr const char* kEndTag = "</LesHouchesEvents>";

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
    run.IDWTUP = 3;  // unweighted events of weight +1
    run.resize(1);
    run.XSECUP[0] = 1.0;
    run.XERRUP[0] = 0.0;
    run.XMAXUP[0] = 1.0;
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

  void write(const at::Tensor& events) override {
    at::Tensor p = writable_batch(events, options_, file_.path());
    const double* data = p.data_ptr<double>();
    const std::int64_t n = options_.particles;
    auto& event = writer_->hepeup;
    for (std::int64_t k = 0; k < p.size(0); ++k) {
      for (std::int64_t i = 0; i < n; ++i) {
        const double* v = data + (k * n + i) * 4;
        event.PUP[i + 2] = {v[1], v[2], v[3], v[0], 0.0};
      }
      writer_->writeEvent();
      ++written_;
    }
    drain();
    PHASEGEN_CHECK(file_.stream().good(), "writing '", file_.path(), "' failed: an I/O error (disk full?)");
  }

  void close() override {
    writer_.reset();  // writes the closing tag
    drain();
    file_.commit();
  }

 private:
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
  EventCollector collector("'" + path + "'");
  RawEvents raw;
  try {
    LHEF::Reader reader(in);
    const std::string& header = reader.headerBlock;
    const auto open = header.find(kOpenTag);
    const auto close = header.find(kCloseTag);
    if (open != std::string::npos && close != std::string::npos && close > open) {
      const auto start = open + std::string(kOpenTag).size();
      raw.run = run_info_from_text(header.substr(start, close - start));
    }
    std::vector<double> values;
    std::vector<int> ids;
    while (reader.readEvent()) {
      const auto& e = reader.hepeup;
      values.clear();
      ids.clear();
      for (int i = 0; i < e.NUP; ++i) {
        if (e.ISTUP[i] != 1) continue;
        const auto& v = e.PUP[i];
        values.insert(values.end(), {v[3], v[0], v[1], v[2]});
        ids.push_back(static_cast<int>(e.IDUP[i]));
      }
      collector.add(values, ids);
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(concat("'", path, "': cannot parse as a Les Houches event file after event ",
                       collector.events(), ": ", e.what()));
  }
  raw.momenta = collector.momenta();
  raw.pdg_ids = collector.first_pdg_ids();
  return raw;
}

}  // namespace phasegen::detail
