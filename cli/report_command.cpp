// report: runs as one self-contained HTML page of SVG charts and tables.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <memory>

#include "commands.h"
#include "console.h"
#include "trackbench/interop/report.h"

namespace trackbench::cli {
namespace {

namespace fs = std::filesystem;

struct report_flags {
  std::vector<std::string> snapshots;
  std::string output = "report.html";
};

int report(const report_flags& flags) {
  if (flags.snapshots.size() > 26) throw input_error("report takes at most 26 snapshots");
  std::vector<tracking::snapshot_reader> readers;
  for (const auto& path : flags.snapshots) readers.emplace_back(path);
  std::vector<interop::report_run> runs;
  for (std::size_t i = 0; i < readers.size(); ++i) runs.push_back({flags.snapshots[i], &readers[i].record()});
  const auto page = interop::html_report(runs, tracking::utc_timestamp());

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
  spdlog::info("wrote {} ({} runs, {} bytes)", printable(flags.output), runs.size(), page.size());
  return 0;
}

}  // namespace

command add_report_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "report", "Write one self-contained HTML page with SVG charts of runs: loss, accuracy, epoch time, images/s, "
                "final confusion matrices, and what differs between them");
  auto flags = std::make_shared<report_flags>();
  sub->add_option("snapshots", flags->snapshots, "Run snapshots (.h5)")->required();
  sub->add_option("-o,--output", flags->output, "HTML file to write")->capture_default_str();
  return {sub, [flags] { return report(*flags); }};
}

}  // namespace trackbench::cli
