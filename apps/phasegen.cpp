// phasegen: the command-line tool. Parses flags and hands over to the library; every user error
// ends as one line on stderr and exit code 2.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli_support.hpp"
#include "commands.hpp"
#include "phasegen/core/runtime.hpp"
#include "phasegen/core/error.hpp"
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
  phasegen::configure_cpu_runtime();
  CLI::App app{"phasegen: generative models confined exactly to massless N-body phase space"};
  app.set_version_flag("--version", std::string("phasegen ") + phasegen::kVersion + " (" +
                                        phasegen::kGitCommit + ")");
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads,
                 "CPU threads for tensor work (0: automatic, one per CPU for event generation, 1 for networks)")
      ->capture_default_str();
  app.parse_complete_callback([&threads] {
    PHASEGEN_CHECK(threads >= 0, "--threads: expected a thread count >= 0, but got ", threads);
    phasegen::cli::set_requested_threads(threads);
  });
  phasegen::cli::add_phasespace_command(app);
  phasegen::cli::add_data_command(app);
  phasegen::cli::add_train_command(app);
  phasegen::cli::add_sample_command(app);
  phasegen::cli::add_merge_command(app);
  phasegen::cli::add_integrate_command(app);
  phasegen::cli::add_compare_command(app);
  phasegen::cli::add_eval_command(app);
  phasegen::cli::add_report_command(app);
  phasegen::cli::add_inspect_command(app);
  phasegen::cli::install_interrupt_handler();
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(std::string(e.what()) + " (see phasegen --help)", kUserError);
  } catch (const phasegen::cli::Interrupted& e) {
    std::cerr << "phasegen: " << e.what() << std::endl;
    return phasegen::cli::kInterruptedExit;
  } catch (const phasegen::Error& e) {
    return fail(e.what(), kUserError);
  } catch (const phasegen::InternalError& e) {
    return fail(std::string("internal error (a bug in phasegen; please report it): ") + e.what(), kInternalError);
  } catch (const std::exception& e) {
    std::string what = e.what();
    return fail("internal error: " + what.substr(0, what.find('\n')), kInternalError);
  }
  return 0;
}
