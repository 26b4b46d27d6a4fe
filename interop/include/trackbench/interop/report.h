#pragma once
// A self-contained HTML report of runs: inline SVG charts and tables, no scripts and nothing
// loaded from elsewhere (its Content-Security-Policy forbids it), readable on screen and in print.
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/history.h"
#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::interop {

struct report_run {
  std::string path;  // as given, shown in the runs table
  const tracking::run_record* record = nullptr;
};

struct report_bench {
  std::string path;
  const tracking::bench_record* record = nullptr;
};

// Runs and bench snapshots are labelled A, B, ... as in compare.
inline constexpr std::size_t max_labelled_snapshots = 26;

// Charts with these ids: chart-loss, chart-accuracy, chart-epoch-time, chart-images-per-second
// and chart-confusion-<label> per run with an epoch; tables runs and differences. With up to
// max_labelled_snapshots bench snapshots: table benches and chart-bench, one bar per snapshot per
// benchmark (the median, whiskers for the spread). With a history (build_history of the same
// snapshots, drawn when it has a series): table history-groups and chart-history-<n> per series,
// its points in commit order with each change point marked. At most max_labelled_snapshots runs.
std::string html_report(const std::vector<report_run>& runs, const std::string& generated_at,
                        const std::vector<report_bench>& benches = {},
                        const tracking::history_report* history = nullptr);

}  // namespace trackbench::interop
