// bench: the Google Benchmark suites run and recorded (tracking/recording/bench_run.h), and their
// table printed.
#include <memory>

#include "bench_output.h"
#include "commands.h"
#include "trackbench/tracking/recording/bench_run.h"

namespace trackbench::cli {
namespace {

struct bench_flags {
  std::string filter;
  int repetitions = 10;
  std::string out = "bench-runs";
  std::string json_file;
  std::vector<std::string> suites;
  std::string suites_dir;
  std::string measure = "time";
};

int bench(const bench_flags& flags, const global_options& globals) {
  const auto outcome = tracking::run_bench({flags.filter, flags.repetitions, flags.out, flags.json_file,
                                            globals.command_line, flags.suites, flags.suites_dir, TRACKBENCH_BENCH_DIR,
                                            flags.measure});
  print_bench_table(outcome.record);
  return 0;
}

}  // namespace

command add_bench_command(CLI::App& app, const global_options& globals) {
  auto* sub = app.add_subcommand(
      "bench", "Run the Google Benchmark suites and keep every repetition in a bench snapshot (bench-runs/<id>.h5)");
  auto flags = std::make_shared<bench_flags>();
  sub->add_option("--filter", flags->filter, "Only benchmarks matching this regular expression (Google Benchmark's "
                                             "--benchmark_filter; default: all)");
  sub->add_option("--repetitions", flags->repetitions,
                  "Samples per benchmark; compare needs at least 4 on each side to call a change, 10 is better")
      ->capture_default_str();
  sub->add_option("--out", flags->out, "Folder of bench snapshots")->capture_default_str();
  sub->add_option("--json", flags->json_file, "Also write the suites' Google Benchmark JSON, merged, to this file "
                                              "(default: none)");
  sub->add_option("--suite", flags->suites,
                  "A suite by name (kernels, trainer, tracking: trackbench_bench_<name> in the suites folder) or the "
                  "path of any Google Benchmark executable; repeatable (default: every suite found)");
  sub->add_option("--suites-dir", flags->suites_dir,
                  "Folder of the trackbench_bench_* executables (default: this build's bench folder, else bench/ "
                  "beside the folder of trackbench)");
  sub->add_option("--measure", flags->measure,
                  "time (repetitions' wall-clock samples), instructions (each benchmark's instructions per iteration, "
                  "counted alone under valgrind --tool=callgrind: deterministic, about 50 times slower, no samples) or "
                  "time,instructions")
      ->capture_default_str();
  return {sub, [flags, &globals] { return bench(*flags, globals); }};
}

}  // namespace trackbench::cli
