#pragma once
// A self-contained HTML report of runs: inline SVG charts and tables, no scripts and nothing
// loaded from elsewhere (its Content-Security-Policy forbids it), readable on screen and in print.
#include <string>
#include <vector>

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

// Charts with these ids: chart-loss, chart-accuracy, chart-epoch-time, chart-images-per-second
// and chart-confusion-<label> per run with an epoch (labels A, B, ... as in compare); tables
// runs and differences. With bench snapshots: table benches and chart-bench, one bar per
// snapshot per benchmark (the median, whiskers for the spread). At most 26 runs and 26 bench
// snapshots.
std::string html_report(const std::vector<report_run>& runs, const std::string& generated_at,
                        const std::vector<report_bench>& benches = {});

}  // namespace trackbench::interop
