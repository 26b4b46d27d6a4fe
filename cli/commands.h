#pragma once
// Each subcommand registers its flags on the app and returns what to run when
// it is the one chosen; main() runs it after parsing and logging set-up.
#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace trackbench::cli {

struct global_options {
  bool verbose = false;
  bool quiet = false;
  std::string log_file;
  std::string command_line;  // as typed, for the run's record
  std::vector<std::string> arguments;  // argv, for --nproc to start the ranks with
};

struct command {
  CLI::App* app;
  std::function<int()> run;  // returns the exit code; throws trackbench errors
};

// --no-index of the commands that read many records (ls, history, report).
inline void add_no_index_flag(CLI::App& sub, bool& no_index) {
  sub.add_flag("--no-index", no_index,
               "Read every file instead of the records catalogued in its folder's .trackbench-index.sqlite "
               "(default: off)");
}

command add_train_command(CLI::App& app, const global_options& globals);
command add_info_command(CLI::App& app);
std::vector<command> add_data_commands(CLI::App& app);
command add_show_command(CLI::App& app);
command add_ls_command(CLI::App& app);
command add_compare_command(CLI::App& app);
command add_reproduce_command(CLI::App& app, const global_options& globals);
command add_export_command(CLI::App& app);
command add_pack_command(CLI::App& app);
command add_report_command(CLI::App& app);
command add_bench_command(CLI::App& app, const global_options& globals);
command add_versus_command(CLI::App& app, const global_options& globals);
command add_history_command(CLI::App& app);
command add_ab_command(CLI::App& app);
// bisect and its hidden bisect-step.
std::vector<command> add_bisect_commands(CLI::App& app);
command add_evaluate_command(CLI::App& app);

}  // namespace trackbench::cli
