#include "phasegen/event_io.hpp"

#include <torch/csrc/jit/serialization/pickle.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "phasegen/phasespace.hpp"
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
      EXPECT_EQ(back.pdg_ids, o.pdg_ids) << name;
      EXPECT_EQ(back.run.description, "test events");
      EXPECT_EQ(back.run.seed.value_or(0), 1234u);
      ASSERT_EQ(back.run.attributes.size(), 1u);
      EXPECT_EQ(back.run.attributes[0].second, "[model]\nname = \"x<y & z>\"\n");
      EXPECT_EQ(back.run.version, o.run.version);
    }
  }
  EXPECT_EQ(listing(), (std::vector<std::string>{"e.hepmc", "e.hepmc3", "e.lhe", "e.pt"}));
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

}  // namespace
}  // namespace phasegen
