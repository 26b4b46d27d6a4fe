// report: runs as one self-contained HTML page of SVG charts and tables.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <memory>
#include <optional>

#include "commands.h"
#include "console.h"
#include "trackbench/interop/report.h"
#include "trackbench/tracking/analysis/history.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/recording/recorder.h"

namespace trackbench::cli {
namespace {

namespace fs = std::filesystem;

struct report_flags {
  std::vector<std::string> snapshots;
  std::string output = "report.html";
  std::string repo = ".";
  bool no_index = false;
};

int report(const report_flags& flags) {
  const auto loaded = tracking::require_every_record(read_records(tracking::history_files(flags.snapshots), flags.no_index));
  std::vector<interop::report_run> runs;
  std::vector<interop::report_bench> benches;
  for (const auto& snapshot : loaded) {
    if (snapshot.bench) {
      benches.push_back({snapshot.path, &*snapshot.bench});
    } else {
      runs.push_back({snapshot.path, &*snapshot.run});
    }
  }
  if (runs.size() > interop::max_labelled_snapshots) {
    throw input_error("report takes at most " + std::to_string(interop::max_labelled_snapshots) + " run snapshots, not " +
                      std::to_string(runs.size()));
  }
  // Snapshots of several commits are a history: each series drawn with its change points.
  std::optional<tracking::history_report> history;
  const auto commits = tracking::recorded_commits(loaded);
  if (commits.size() >= 2) {
    tracking::history_options options;
    options.ancestry = tracking::git_ancestry(flags.repo, commits);
    history = tracking::build_history(loaded, options);
  }
  const auto page = interop::html_report(runs, tracking::utc_timestamp(), benches, history ? &*history : nullptr);

  // Written beside the target and renamed over it, so a reader never sees half a page.
  const fs::path target(flags.output);
  const fs::path temporary = target.parent_path() / ("." + target.filename().string() + ".tmp");
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << page;
    if (!out.flush()) throw input_error("-o " + flags.output + ": cannot write " + temporary.string());
  }
  std::error_code error;
  fs::rename(temporary, target, error);
  if (error) {
    fs::remove(temporary, error);
    throw input_error("-o " + flags.output + ": cannot replace the file: " + error.message());
  }
  spdlog::info("wrote {} ({}, {}, {} bytes)", printable(flags.output),
               tracking::count_of(static_cast<std::int64_t>(runs.size()), "run"),
               tracking::count_of(static_cast<std::int64_t>(benches.size()), "bench snapshot"), page.size());
  return 0;
}

}  // namespace

command add_report_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "report", "Write one self-contained HTML page with SVG charts of runs: loss, accuracy, epoch time, images/s, "
                "final confusion matrices, and what differs between them; of bench snapshots: each benchmark's "
                "median as a bar per snapshot, with whiskers for the spread; and of snapshots of several commits: "
                "each series of their history with its change points");
  auto flags = std::make_shared<report_flags>();
  sub->add_option("snapshots", flags->snapshots, "Run and bench snapshots (.h5), or folders standing for their *.h5 files")
      ->required();
  sub->add_option("-o,--output", flags->output, "HTML file to write")->capture_default_str();
  sub->add_option("--repo", flags->repo, "Git checkout that orders the commits of a history by ancestry")
      ->capture_default_str();
  add_no_index_flag(*sub, flags->no_index);
  return {sub, [flags] { return report(*flags); }};
}

}  // namespace trackbench::cli
