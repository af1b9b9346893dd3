// phasegen: the command-line tool. Parses flags and hands over to the library; every user error
// ends as one line on stderr and exit code 2.
#include <ATen/Parallel.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <thread>

#include "cli_support.hpp"
#include "commands.hpp"
#include "phasegen/error.hpp"
#include "phasegen/version.hpp"

namespace {

constexpr int kUserError = 2;
constexpr int kInternalError = 1;

int fail(const std::string& message, int code) {
  std::cerr << "phasegen: error: " << message << std::endl;
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"phasegen: generative models confined exactly to massless N-body phase space"};
  app.set_version_flag("--version", std::string("phasegen ") + phasegen::kVersion + " (" +
                                        phasegen::kGitCommit + ")");
  app.require_subcommand(1);
  int threads = 0;
  // Default: one thread per CPU; measured on 2 cores, generation runs 10-25% faster on 2 than
  // on 1 (docs/PERFORMANCE.md). Results do not depend on the thread count.
  app.add_option("--threads", threads, "CPU threads for tensor work (0: one per CPU)")->capture_default_str();
  app.parse_complete_callback([&threads] {
    PHASEGEN_CHECK(threads >= 0, "--threads: expected a thread count >= 0, but got ", threads);
    const unsigned cpus = std::thread::hardware_concurrency();
    at::set_num_threads(threads > 0 ? threads : static_cast<int>(cpus > 0 ? cpus : 1));
  });
  phasegen::cli::add_phasespace_command(app);
  phasegen::cli::add_data_command(app);
  phasegen::cli::add_compare_command(app);
  phasegen::cli::add_inspect_command(app);
  phasegen::cli::install_interrupt_handler();
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(std::string(e.what()) + " (see phasegen --help)", kUserError);
  } catch (const phasegen::Error& e) {
    return fail(e.what(), kUserError);
  } catch (const std::exception& e) {
    std::string what = e.what();
    return fail("internal error: " + what.substr(0, what.find('\n')), kInternalError);
  }
  return 0;
}
