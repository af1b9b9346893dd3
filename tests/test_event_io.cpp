#include "phasegen/io/event_io.hpp"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "phasegen/physics/phasespace.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

namespace fs = std::filesystem;
using test::max_abs;

class EventIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("phasegen-io-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Everything in the directory, temporary files included.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  static WriterOptions options(std::int64_t n, double sqrt_s) {
    WriterOptions o;
    o.particles = n;
    o.sqrt_s = sqrt_s;
    o.run = make_run_info("test events");
    o.run.seed = 1234;
    o.run.attributes = {{"card", "[model]\nname = \"x<y & z>\"\n"}};
    return o;
  }

  void write(const std::string& file, const at::Tensor& p, WriterOptions o) {
    auto writer = open_event_writer(file, o);
    const auto half = p.size(0) / 2;
    writer->write(p.narrow(0, 0, half));
    writer->write(p.narrow(0, half, p.size(0) - half));
    writer->close();
  }

  static std::string read_text(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  static void write_text(const std::string& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary);
    out << text;
  }

  fs::path dir_;
};

// `text` with the first `from` replaced by `to`; the test fails if there is none.
std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no '" << from << "' to replace";
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

std::string pickled(const c10::IValue& value) {
  const std::vector<char> bytes = torch::jit::pickle_save(value);
  return std::string(bytes.begin(), bytes.end());
}

// A .pt archive as LibTorch writes one, holding the pickle `pickle` and nothing else.
std::string pt_archive(const std::string& pickle) {
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
    out.append(static_cast<const char*>(data), size);
    return size;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeEndOfFile();
  return out;
}

at::Tensor sample(std::int64_t events, std::int64_t n, double sqrt_s, std::uint64_t seed = 1) {
  at::Generator gen = make_generator(seed);
  return sample_uniform_phase_space(events, n, sqrt_s, gen);
}

TEST_F(EventIoTest, EveryFormatRoundTripsEventsAndRunInfo) {
  at::Tensor p = sample(301, 5, 91.2);
  for (const std::string name : {"e.pt", "e.hepmc3", "e.hepmc", "e.lhe"}) {
    WriterOptions o = options(5, 91.2);
    o.pdg_ids = {1, -1, 21, 22, 11};
    write(path(name), p, o);
    EventSet back = read_events(path(name));
    ASSERT_EQ(back.momenta.sizes(), p.sizes()) << name;
    EXPECT_EQ(back.momenta.scalar_type(), at::kDouble);
    // 17 significant digits round-trip a double exactly.
    EXPECT_EQ(max_abs(back.momenta - p), 0.0) << name;
    EXPECT_NEAR(back.sqrt_s, 91.2, 1e-12);
    if (name != "e.pt") {
      EXPECT_EQ(back.pdg_ids, o.pdg_ids) << name;  // a .pt file holds momenta only
    }
    // Every format keeps the run information (.pt in a zip record of its own).
    EXPECT_EQ(back.run.description, "test events") << name;
    EXPECT_EQ(back.run.seed.value_or(0), 1234u) << name;
    ASSERT_EQ(back.run.attributes.size(), 1u) << name;
    EXPECT_EQ(back.run.attributes[0].second, "[model]\nname = \"x<y & z>\"\n") << name;
    EXPECT_EQ(back.run.version, o.run.version) << name;
  }
  EXPECT_EQ(listing(), (std::vector<std::string>{"e.hepmc", "e.hepmc3", "e.lhe", "e.pt"}));
}

// Weighted and unweighted files: the weights and the cross section come back from every format;
// writes that do not match how the file was opened are refused.
TEST_F(EventIoTest, WeightsAndTheCrossSectionRoundTripInEveryFormat) {
  at::Tensor p = sample(201, 3, 10.0);
  at::Generator gen = make_generator(4);
  const at::Tensor w = at::rand({201}, gen, at::kDouble) * 7.5;
  for (const auto mode : {WeightInfo::Mode::kWeighted, WeightInfo::Mode::kUnweighted}) {
    for (const std::string name : {"w.pt", "w.hepmc3", "w.lhe"}) {
      WriterOptions o = options(3, 10.0);
      o.weights.mode = mode;
      o.weights.name = "qqg";
      o.weights.cross_section = 182.43675003;
      o.weights.error = 0.25;
      o.weights.max_weight = w.max().item<double>();
      o.weights.unit = "GeV^2";
      auto writer = open_event_writer(path(name), o);
      writer->write(p.narrow(0, 0, 100), w.narrow(0, 0, 100));
      writer->write(p.narrow(0, 100, 101), w.narrow(0, 100, 101));
      EXPECT_ERROR_CONTAINS(writer->write(p.narrow(0, 0, 3)), "expected a weight with every event");
      EXPECT_ERROR_CONTAINS(writer->write(p.narrow(0, 0, 3), -w.narrow(0, 0, 3) - 1.0), "expected finite weights >= 0");
      EXPECT_ERROR_CONTAINS(writer->write(p.narrow(0, 0, 3), w.narrow(0, 0, 2)), "expected one weight per event");
      writer->close();
      const EventSet back = read_events(path(name));
      ASSERT_TRUE(back.weights.defined()) << name;
      EXPECT_EQ(max_abs(back.momenta - p), 0.0) << name;
      EXPECT_EQ(max_abs(back.weights - w), 0.0) << name;  // 17 digits
      EXPECT_EQ(back.weight_info.mode, mode) << name;
      EXPECT_EQ(back.weight_info.name, "qqg") << name;
      EXPECT_EQ(back.weight_info.cross_section, 182.43675003) << name;
      EXPECT_EQ(back.weight_info.error, 0.25) << name;
      EXPECT_EQ(back.weight_info.unit, "GeV^2") << name;
      EXPECT_EQ(back.weight_info.max_weight, w.max().item<double>()) << name;
    }
    const std::string lhe = read_text(path("w.lhe"));
    EXPECT_NE(lhe.find(mode == WeightInfo::Mode::kWeighted ? "    0    0    4    1" : "    0    0    3    1"),
              std::string::npos) << "IDWTUP";
    const std::string init = lhe.substr(lhe.find("<init>"), lhe.find("</init>") - lhe.find("<init>"));
    EXPECT_NE(init.find("\n 182.43675003"), std::string::npos) << "XSECUP in <init>: " << init;
    EXPECT_NE(init.find(" 0.25 "), std::string::npos) << "XERRUP in <init>: " << init;
    EXPECT_NE(read_text(path("w.hepmc3")).find("GenCrossSection 1.82436750e+02 2.50000000e-01"), std::string::npos);
  }
  // A file opened without weights takes none, and reads back without them.
  auto plain = open_event_writer(path("plain.lhe"), options(3, 10.0));
  EXPECT_ERROR_CONTAINS(plain->write(p, w), "weights given for a file opened without them");
  plain->write(p);
  plain->close();
  EXPECT_FALSE(read_events(path("plain.lhe")).weights.defined());
  // Another generator's weighted LHE file (IDWTUP 4, no phasegen header): XWGTUP and XSECUP in pb.
  std::string foreign = read_text(path("plain.lhe"));
  foreign = replace_once(foreign, "    0    0    3    1", "    0    0    4    1");
  foreign = replace_once(foreign, "<phasegen>", "<other>");
  foreign = replace_once(foreign, "</phasegen>", "</other>");
  const auto init = foreign.find("</init>");
  const auto line_end = foreign.rfind('\n', init - 1);
  const auto line_start = foreign.rfind('\n', line_end - 1) + 1;
  foreign.replace(line_start, line_end - line_start, " 12.5 0.5 3 1");
  const auto first_event = foreign.find("<event>\n") + 8;
  const auto head_end = foreign.find('\n', first_event);
  std::istringstream head(foreign.substr(first_event, head_end - first_event));
  std::string nup, idprup, xwgtup, scalup, aqedup, aqcdup;
  head >> nup >> idprup >> xwgtup >> scalup >> aqedup >> aqcdup;
  foreign.replace(first_event, head_end - first_event, nup + " " + idprup + " 2.5 " + scalup + " " + aqedup + " " + aqcdup);
  write_text(path("foreign.lhe"), foreign);
  const EventSet other = read_events(path("foreign.lhe"));
  ASSERT_TRUE(other.weights.defined());
  EXPECT_EQ(other.weights[0].item<double>(), 2.5);
  EXPECT_EQ(other.weights[1].item<double>(), 1.0);
  EXPECT_EQ(other.weight_info.mode, WeightInfo::Mode::kWeighted);
  EXPECT_EQ(other.weight_info.cross_section, 12.5);
  EXPECT_EQ(other.weight_info.unit, "pb");
  // A negative weight is refused with its event.
  write_text(path("negative.lhe"), replace_once(foreign, " 2.5 ", " -2.5 "));
  EXPECT_ERROR_CONTAINS(read_events(path("negative.lhe")), "event 1: expected a finite weight >= 0, but got -2.5");
}

TEST_F(EventIoTest, PtFilesOpenInPythonTorchLoad) {
  const std::string python = PHASEGEN_PYTHON;
  if (std::system((python + " -c 'import torch' >/dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << python << " cannot import torch (scripts/install-deps.sh installs python3-torch)";
  }
  at::Tensor p = sample(50, 3, 1.0);
  write(path("e.pt"), p, options(3, 1.0));
  const std::string check = python + " -c \"import torch; t = torch.load('" + path("e.pt") +
                            "'); assert t.shape == (50, 3, 4) and t.dtype == torch.float64, t.shape; "
                            "assert abs(float(t[:, :, 0].sum(1).sub(1).abs().max())) < 1e-12\"";
  EXPECT_EQ(std::system(check.c_str()), 0);
  // The paper's layout, written by Python itself: (n, N, 3) float32 3-momenta, unit energy.
  const std::string save = python + " -c \"import torch; t = torch.load('" + path("e.pt") +
                           "'); torch.save(t[:, :, 1:].float().contiguous(), '" + path("paper.pt") + "')\"";
  ASSERT_EQ(std::system(save.c_str()), 0);
  EventSet back = read_events(path("paper.pt"));
  EXPECT_LE(max_abs(back.momenta - p), 1e-6);
  // A weighted file: the dict {events, weights, cross_section}.
  WriterOptions o = options(3, 1.0);
  o.weights.mode = WeightInfo::Mode::kWeighted;
  o.weights.cross_section = 2.5;
  o.weights.error = 0.125;
  o.weights.max_weight = 4.0;
  auto writer = open_event_writer(path("w.pt"), o);
  writer->write(p, at::full({50}, 2.5, at::kDouble));
  writer->close();
  const std::string weighted = python + " -c \"import torch; d = torch.load('" + path("w.pt") +
                               "'); assert d['events'].shape == (50, 3, 4) and d['weights'].shape == (50,); "
                               "assert float(d['weights'].mean()) == 2.5 and d['cross_section'].tolist() == [2.5, 0.125]\"";
  EXPECT_EQ(std::system(weighted.c_str()), 0);
}

TEST_F(EventIoTest, ReadsThePapersFloat32Layout) {
  at::Tensor p = sample(200, 3, 1.0);
  const std::vector<char> bytes = torch::jit::pickle_save(p.narrow(2, 1, 3).to(at::kFloat).contiguous());
  write_text(path("paper.pt"), std::string(bytes.begin(), bytes.end()));
  EventSet back = read_events(path("paper.pt"));
  ASSERT_EQ(back.momenta.sizes(), p.sizes());
  EXPECT_LE(max_abs(back.momenta - p), 1e-6);
  EXPECT_NEAR(back.sqrt_s, 1.0, 1e-6);
}

TEST_F(EventIoTest, UnknownExtensionAndUnwritablePathsFailBeforeWriting) {
  WriterOptions o = options(3, 1.0);
  EXPECT_ERROR_CONTAINS(open_event_writer(path("e.root"), o), "expected .pt, .hepmc3 (or .hepmc) or .lhe");
  EXPECT_ERROR_CONTAINS(open_event_writer(path("noext"), o), "cannot tell the event format");
  EXPECT_ERROR_CONTAINS(open_event_writer(path("missing/dir/e.pt"), o), "No such file or directory");
  o.pdg_ids = {1, 2};
  EXPECT_ERROR_CONTAINS(open_event_writer(path("e.lhe"), o), "expected 1 or 3 PDG ids");
  EXPECT_TRUE(listing().empty());
}

TEST_F(EventIoTest, AWriterThatIsNotClosedLeavesNoFile) {
  at::Tensor p = sample(10, 3, 1.0);
  for (const std::string name : {"e.pt", "e.hepmc3", "e.lhe"}) {
    auto writer = open_event_writer(path(name), options(3, 1.0));
    writer->write(p);
    EXPECT_ERROR_CONTAINS(writer->write(sample(2, 4, 1.0)), "expected events of shape [batch, 3, 4]");
  }
  EXPECT_TRUE(listing().empty()) << listing().size() << " files left";
}

TEST_F(EventIoTest, TruncatedFilesAreRefused) {
  at::Tensor p = sample(40, 4, 10.0);
  for (const std::string name : {"e.pt", "e.hepmc3", "e.lhe"}) {
    write(path(name), p, options(4, 10.0));
    const std::string text = read_text(path(name));
    write_text(path("cut-" + name), text.substr(0, text.size() * 2 / 3));
    const std::string message = test::error_of([&] { read_events(path("cut-" + name)); });
    EXPECT_NE(message.find("cut-" + name), std::string::npos) << message;
    EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  }
}

TEST_F(EventIoTest, NonPhysicalEventsAreRefusedWithTheirNumber) {
  at::Tensor p = sample(30, 3, 1.0);
  at::Tensor massive = p.clone();
  massive[6][1][0] += 1e-3;  // E != |p| and energy not conserved
  write(path("massive.lhe"), massive, options(3, 1.0));
  EXPECT_ERROR_CONTAINS(read_events(path("massive.lhe")), "event 7, particle 2: expected a massless particle");

  at::Tensor boosted = p.clone();
  boosted[11][0][3] += 1e-3;  // momentum not balanced, mass broken too: shift E to keep E = |p|
  boosted[11][0][0] = boosted[11][0].narrow(0, 1, 3).norm().item<double>();
  write(path("boosted.hepmc3"), boosted, options(3, 1.0));
  EXPECT_ERROR_CONTAINS(read_events(path("boosted.hepmc3")), "event 12: expected the centre-of-momentum frame");

  at::Tensor scaled = p.clone();
  scaled[3] *= 1.5;  // in its CM frame, but at another energy
  write(path("scaled.pt"), scaled, options(3, 1.0));
  EXPECT_ERROR_CONTAINS(read_events(path("scaled.pt")), "event 4: expected total energy 1 GeV");

  at::Tensor nan = p.clone();
  nan[20][2][2] = NAN;
  write(path("nan.pt"), nan, options(3, 1.0));
  EXPECT_ERROR_CONTAINS(read_events(path("nan.pt")), "event 21: a momentum component is NaN");

  // A looser tolerance accepts what a tight one refuses.
  ReadOptions loose;
  loose.tolerance = 1e-2;
  EXPECT_EQ(read_events(path("massive.lhe"), loose).momenta.size(0), 30);
}

TEST_F(EventIoTest, InconsistentParticleCountsAndGarbageAreRefused) {
  at::Tensor p3 = sample(5, 3, 1.0);
  at::Tensor p4 = sample(5, 4, 1.0);
  write(path("a.lhe"), p3, options(3, 1.0));
  write(path("b.lhe"), p4, options(4, 1.0));
  // Splice the events of b after those of a.
  std::string a = read_text(path("a.lhe")), b = read_text(path("b.lhe"));
  const std::string tail = "</LesHouchesEvents>";
  const auto first_event = b.find("<event>");
  a = a.substr(0, a.rfind(tail)) + b.substr(first_event);
  write_text(path("mixed.lhe"), a);
  EXPECT_ERROR_CONTAINS(read_events(path("mixed.lhe")), "event 6: expected 3 final-state particles");

  write_text(path("junk.hepmc3"), "this is not an event file\nHepMC::Asciiv3-END_EVENT_LISTING\n");
  EXPECT_ERROR_CONTAINS(read_events(path("junk.hepmc3")), "junk.hepmc3");
  write_text(path("junk.lhe"), "<html>\n</LesHouchesEvents>\n");
  EXPECT_ERROR_CONTAINS(read_events(path("junk.lhe")), "junk.lhe");
  write_text(path("junk.pt"), "PK\x03\x04 not really a zip");
  EXPECT_ERROR_CONTAINS(read_events(path("junk.pt")), "is not a readable .pt tensor file");
  write_text(path("empty.lhe"), "");
  EXPECT_ERROR_CONTAINS(read_events(path("empty.lhe")), "empty.lhe");
  EXPECT_ERROR_CONTAINS(read_events(path("absent.pt")), "no such file");
  EXPECT_ERROR_CONTAINS(read_events(path("")), "");
}

TEST_F(EventIoTest, WrongTensorShapesInPtFilesAreRefused) {
  const std::vector<char> bytes = torch::jit::pickle_save(at::zeros({10, 3, 5}, at::kDouble));
  write_text(path("shape.pt"), std::string(bytes.begin(), bytes.end()));
  EXPECT_ERROR_CONTAINS(read_events(path("shape.pt")), "expected a tensor of shape (n, N, 4)");
  const std::vector<char> ints = torch::jit::pickle_save(at::zeros({10, 3, 4}, at::kLong));
  write_text(path("ints.pt"), std::string(ints.begin(), ints.end()));
  EXPECT_ERROR_CONTAINS(read_events(path("ints.pt")), "expected a floating-point tensor");
  const std::vector<char> none = torch::jit::pickle_save(c10::IValue(3.0));
  write_text(path("scalar.pt"), std::string(none.begin(), none.end()));
  EXPECT_ERROR_CONTAINS(read_events(path("scalar.pt")), "expected a tensor, but the file holds");
}

// Regression tests of scripts/fuzz.sh's findings: each file crashed, hung or exhausted memory in a reader
// (mostly inside LibTorch 1.13 or libHepMC3 3.1.2) before it was checked.

TEST_F(EventIoTest, DamagedPtZipArchivesAreRefused) {
  const std::string good = pickled(at::zeros({3, 3, 4}, at::kDouble));
  const auto pickle_entry = good.find("PK\x01\x02", good.find("PK\x01\x02") + 1);  // central entry of data.pkl
  // Its uncompressed size set to 0xffffffff: LibTorch allocated 4 GiB and read past the file's bytes.
  std::string huge = good;
  huge.replace(pickle_entry + 24, 4, "\xff\xff\xff\xff");
  write_text(path("huge.pt"), huge);
  EXPECT_ERROR_CONTAINS(read_events(path("huge.pt")), "huge.pt' is not a readable .pt tensor file");
  // 16 bytes inserted into the entry: LibTorch's zip reader read far past the file's bytes (a crash).
  std::string shifted = good;
  shifted.insert(pickle_entry + 22, std::string(16, '\xff'));
  write_text(path("shifted.pt"), shifted);
  EXPECT_ERROR_CONTAINS(read_events(path("shifted.pt")), "shifted.pt' is not a readable .pt tensor file");
}

TEST_F(EventIoTest, PicklesThatWouldExhaustMemoryOrUnderflowTheStackAreRefused) {
  const std::string protocol = "\x80\x02";
  const std::vector<std::pair<std::string, std::string>> cases = {
      // A string claiming 2 GB: LibTorch's unpickler allocated and zeroed it before finding the pickle short.
      {protocol + "X\xf0\xff\xff\x7f" + "abc", "a pickled string claims 2147483632 bytes"},
      // A memo slot at 2^28: the unpickler grew its memo table to 4 GB of empty entries.
      {protocol + "K\x01r" + std::string("\x00\x00\x00\x10", 4) + ".", "memo slot 268435456"},
      // Opcodes taking what was never pushed: the unpickler indexed its empty stacks.
      {protocol + "t.", "closes a mark it never set"},
      {protocol + "K\x01R.", "takes more from its stack than it put there"},
  };
  for (const auto& [pickle, message] : cases) {
    write_text(path("bad.pt"), pt_archive(pickle));
    EXPECT_ERROR_CONTAINS(read_events(path("bad.pt")), message);
  }
}

TEST_F(EventIoTest, PtTensorsMustFitTheRecordsHoldingTheirData) {
  // The pickle claims 255 elements of storage and shape (5, 3, 4) where the record holds 36 doubles:
  // LibTorch built the tensor anyway, and reading it read past the record.
  std::string bytes = pickled(at::zeros({3, 3, 4}, at::kDouble));
  bytes = replace_once(bytes, "cpuq\x04K$", "cpuq\x04K\xff");
  bytes = replace_once(bytes, "K\x03K\x03K\x04", "K\x05K\x03K\x04");
  write_text(path("overlong.pt"), bytes);
  EXPECT_ERROR_CONTAINS(read_events(path("overlong.pt")),
                        "sizes [5, 3, 4], strides [12, 4, 1] and offset 0 do not fit its storage of 36 elements");
  // Stride 0: four numbers standing for a million events.
  write_text(path("expanded.pt"), pickled(at::zeros({1, 1, 4}, at::kDouble).expand({1000000, 3, 4})));
  EXPECT_ERROR_CONTAINS(read_events(path("expanded.pt")), "do not fit its storage of 4 elements");
}

TEST_F(EventIoTest, TrajectoryStepsMustBeAVectorOfIntegers) {
  const at::Tensor events = sample(2, 3, 1.0).unsqueeze(0);
  for (const at::Tensor& steps : {at::scalar_tensor(5, at::kLong), at::full({1}, NAN, at::kDouble)}) {
    c10::Dict<std::string, at::Tensor> dict;
    dict.insert("steps", steps);
    dict.insert("events", events);
    write_text(path("trajectory.pt"), pickled(c10::IValue(dict)));
    EXPECT_ERROR_CONTAINS(read_trajectory(path("trajectory.pt")),
                          steps.dim() == 0 ? "expected steps [S] and events [S, n, N, 4], but got [] and [1, 2, 3, 4]"
                                           : "expected integer steps and floating-point events, but got Double");
  }
}

TEST_F(EventIoTest, HepMC3LinesThatCrashHepMC3AreRefused) {
  write(path("good.hepmc3"), sample(4, 3, 1.0), options(3, 1.0));
  const std::string good = read_text(path("good.hepmc3"));
  const std::string weight_line = good.substr(good.find("\nW 1"), good.find('\n', good.find("\nW 1") + 1) -
                                                                      good.find("\nW 1"));
  // Two weights where the run names one: HepMC3 threw std::logic_error, which escaped the reader.
  write_text(path("weights.hepmc3"), replace_once(good, weight_line, "\nW 1 2"));
  EXPECT_ERROR_CONTAINS(read_events(path("weights.hepmc3")), "cannot parse event 1 as HepMC3 Asciiv3");
  // A line ending in a lone backslash: HepMC3's unescape() ran off the end of the string (a crash).
  write_text(path("backslash.hepmc3"), replace_once(good, "\nA phasegen_run", "\\\nA phasegen_run"));
  EXPECT_ERROR_CONTAINS(read_events(path("backslash.hepmc3")), "ends in a lone backslash");
  // Attribute names longer than HepMC3's 64-byte buffer, of the run and of an event: a stack overflow.
  const std::string name(100, 'x');
  write_text(path("run.hepmc3"), replace_once(good, "\nA phasegen_run", "\nA " + name + " 1\nA phasegen_run"));
  EXPECT_ERROR_CONTAINS(read_events(path("run.hepmc3")), "attribute name of at most 63 characters");
  write_text(path("event.hepmc3"), replace_once(good, "\nU GEV MM\n", "\nU GEV MM\nA 0 " + name + " 1\n"));
  EXPECT_ERROR_CONTAINS(read_events(path("event.hepmc3")), "attribute name of at most 63 characters");
  write_text(path("after.hepmc3"), good + "A " + name + " 1\n");  // after the listing: the run's again
  EXPECT_ERROR_CONTAINS(read_events(path("after.hepmc3")), "attribute name of at most 63 characters");
  // A vertex naming a particle its event does not have: HepMC3 looked it up past the end of its list.
  write_text(path("vertex.hepmc3"), replace_once(good, "\nV -1 0 [1,2]", "\nV -1 0 [1,99999999]"));
  EXPECT_ERROR_CONTAINS(read_events(path("vertex.hepmc3")),
                        "the vertex lists particle 99999999, but its event has 5 particles");
}

TEST_F(EventIoTest, DamagedLheFilesAreRefusedQuickly) {
  write(path("good.lhe"), sample(3, 3, 1.0), options(3, 1.0));
  const std::string good = read_text(path("good.lhe"));
  // An unclosed quote: HepMC3's LHEF parser looped for ever.
  write_text(path("quote.lhe"), "<LesHouchesEvents version=\"3 </init> </LesHouchesEvents>");
  EXPECT_ERROR_CONTAINS(read_events(path("quote.lhe")), "quote.lhe' ends too early: expected an <init> block");
  // A particle line cut short: LHEF leaked its tag tree.
  const auto second_event = good.find("<event>", good.find("<event>") + 1);
  const auto cut = good.find(" 0 9\n", second_event);
  write_text(path("short.lhe"), good.substr(0, cut) + "\n" + good.substr(cut + 5));
  EXPECT_ERROR_CONTAINS(read_events(path("short.lhe")), "short.lhe' line");
  EXPECT_ERROR_CONTAINS(read_events(path("short.lhe")), "event 2: particle 1: expected the 13 numbers");
  // Two billion particles claimed: LHEF sized its arrays by the claim.
  write_text(path("many.lhe"), replace_once(good, "<event>\n    5 ", "<event>\n    2000000000 "));
  EXPECT_ERROR_CONTAINS(read_events(path("many.lhe")),
                        "event 1: expected NUP = 2000000000 particle lines, but particle 6 is missing");
}

}  // namespace
}  // namespace phasegen
