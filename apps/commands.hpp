// The sub-commands of the phasegen tool. Each registers its flags on the CLI11 app and runs
// through the library; none holds physics of its own.
#pragma once

#include <CLI/CLI.hpp>

namespace phasegen::cli {

void add_phasespace_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_compare_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_sample_command(CLI::App& app);
void add_merge_command(CLI::App& app);
void add_integrate_command(CLI::App& app);

}  // namespace phasegen::cli
