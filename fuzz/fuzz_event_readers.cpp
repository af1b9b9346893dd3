// libFuzzer target of the event readers: read_events (.pt, .hepmc3, .lhe) and read_trajectory.
//
//   scripts/fuzz.sh 300        # builds build-fuzz/fuzz_event_readers and runs it for 300 s
//
// The readers take a path, so every input is written to a file in a directory of this process's
// own and read back from there. The first byte of the input chooses the reader and its options;
// the rest is the file:
//   byte % 4:   0 read_events(.pt), 1 read_events(.hepmc3), 2 read_events(.lhe), 3 read_trajectory(.pt)
//   byte & 4:   ReadOptions::require_conservation = false
// phasegen::Error is the answer to a bad file and is swallowed. Anything else escaping a reader, a
// crash, a sanitizer report, a hang or a huge allocation is a finding. With PHASEGEN_FUZZ_VERBOSE set,
// each input's outcome is printed (build-fuzz/fuzz_event_readers FILE... runs the given inputs once).
#include <ATen/Parallel.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <typeinfo>

#include "phasegen/core/error.hpp"
#include "phasegen/io/event_io.hpp"

namespace {

std::string& fuzz_dir() {
  static std::string dir;
  return dir;
}

void remove_fuzz_dir() {
  std::error_code ec;
  if (!fuzz_dir().empty()) std::filesystem::remove_all(fuzz_dir(), ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // One thread: LibTorch's pools would only add noise (and time) to inputs of a few kB.
  at::set_num_threads(1);
  // Under $TMPDIR (scripts/fuzz.sh points it into the build directory): a crash skips the clean-up.
  const char* tmp = std::getenv("TMPDIR");
  std::string name = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/phasegen-fuzz-XXXXXX";
  if (::mkdtemp(name.data()) == nullptr) {
    std::perror("phasegen fuzz: mkdtemp");
    std::abort();
  }
  fuzz_dir() = name;
  std::atexit(remove_fuzz_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned reader = data[0] % 4;
  static const char* const kExtensions[] = {".pt", ".hepmc3", ".lhe", ".pt"};
  const std::string path = fuzz_dir() + "/input" + kExtensions[reader];
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
    if (!out) {
      std::perror("phasegen fuzz: writing the input file");
      std::abort();
    }
  }
  static const bool verbose = std::getenv("PHASEGEN_FUZZ_VERBOSE") != nullptr;
  phasegen::ReadOptions options;
  options.require_conservation = (data[0] & 4) == 0;
  try {
    if (reader == 3) {
      phasegen::read_trajectory(path, options);
    } else {
      phasegen::read_events(path, options);
    }
    if (verbose) std::fprintf(stderr, "phasegen fuzz: accepted\n");
  } catch (const phasegen::Error& e) {
    // The expected answer to a bad file; shown on request, to see what a reproducer is refused for.
    if (verbose) std::fprintf(stderr, "phasegen fuzz: refused: %s\n", e.what());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "phasegen fuzz: %s escaped the reader (expected phasegen::Error): %s\n",
                 typeid(e).name(), e.what());
    std::abort();
  }
  return 0;
}
