// trackbench: train and benchmark the digit CNN, and track every run.
#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

#include "commands.h"
#include "console.h"
#include "exit_codes.h"
#include "trackbench/tracking/recording/recorder.h"
#include "trackbench/trainer/errors.h"

int main(int argc, char** argv) {
  using namespace trackbench::cli;
  CLI::App app{"trackbench: a training benchmark harness for a digit CNN, with built-in tracking", "trackbench"};
  app.require_subcommand(1);
  app.fallthrough();
  global_options globals;
  globals.command_line = trackbench::tracking::format_command_line({argv, argv + argc});
  globals.arguments = {argv, argv + argc};
  app.add_flag("-v,--verbose", globals.verbose, "Log debug detail, including each epoch's full record (default: off)");
  app.add_flag("-q,--quiet", globals.quiet, "Only warnings, errors and the final summary (default: off)");
  app.add_option("--log-file", globals.log_file, "Also write a full debug log to this file (default: none)");

  std::vector<command> commands{add_train_command(app, globals), add_show_command(app),
                                add_ls_command(app),                add_compare_command(app),
                                add_reproduce_command(app, globals), add_export_command(app),
                                add_pack_command(app),              add_history_command(app),
                                add_report_command(app),            add_bench_command(app, globals),
                                add_versus_command(app, globals),   add_ab_command(app),
                                add_info_command(app),               add_evaluate_command(app)};
  for (auto& data_command : add_data_commands(app)) commands.push_back(std::move(data_command));
  for (auto& bisect_command : add_bisect_commands(app)) commands.push_back(std::move(bisect_command));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_pass : exit_bad_input;
  }
  try {
    configure_logging(globals.verbose, globals.quiet, globals.log_file);
  } catch (const spdlog::spdlog_ex& e) {
    std::fprintf(stderr, "error: --log-file %s: %s\n", globals.log_file.c_str(), e.what());
    return exit_bad_input;
  }
  try {
    for (const auto& chosen : commands) {
      if (chosen.app->parsed()) return chosen.run();
    }
    spdlog::error("no command given; see trackbench --help");
    return exit_bad_input;
  } catch (const trackbench::input_error& e) {
    spdlog::error("{}", printable(e.what()));
    return exit_bad_input;
  } catch (const trackbench::training_error& e) {
    spdlog::error("training failed: {}", e.what());
    return exit_failure;
  } catch (const c10::Error& e) {
    spdlog::error("LibTorch: {}", e.what_without_backtrace());
    return exit_failure;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return exit_failure;
  }
}
