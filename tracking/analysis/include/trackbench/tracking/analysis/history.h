#pragma once
// History without a server: the bench and run snapshots of many commits as series (a benchmark's
// median time, a run metric), grouped by the hardware and build they ran on, ordered by commit,
// with the change points of each series (change_points.h) and the change at each.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/change_points.h"
#include "trackbench/tracking/analysis/statistics.h"
#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::tracking {

// One file given to history: its record (run or bench), or why it could not be read.
using history_input = snapshot_record;

// The snapshot files named, to read with read_snapshot_records(): a folder stands for its
// snapshot_files_in(). Throws input_error for a path that does not exist or a folder without
// snapshots.
std::vector<std::filesystem::path> history_files(const std::vector<std::string>& arguments);

// The commits the records were made at (code.commit), each once, in input order; "unknown" left out.
std::vector<std::string> recorded_commits(const std::vector<history_input>& inputs);

struct history_options {
  std::string benchmark_pattern;  // --benchmark: an ECMAScript regular expression searched in bench names
  std::string metric;             // --metric: one run metric (history_metric_names())
  change_point_options detection;
  // The commits in ancestry order, oldest first (a checkout's `git rev-list --topo-order --reverse`);
  // empty when no checkout knows them.
  std::vector<std::string> ancestry;
};

// What a run snapshot contributes to a history: the times and throughput compare sums up as a
// median over epochs, the run-level times (schema::run_level_metrics in seconds) and the final
// test accuracy (in percent).
std::vector<std::string> history_metric_names();

struct history_point {
  std::string commit;      // code.commit, "unknown" when not recorded
  std::string start_time;  // ISO 8601
  std::string path;
  double value = 0.0;            // the benchmark's median real seconds per iteration, or the metric
  std::vector<double> samples;   // every repetition's time (one value for a run metric)
};

struct history_change {
  std::size_t index = 0;  // the point that starts the new segment
  std::string commit;
  double before_median = 0.0;  // median of the previous segment's points
  double after_median = 0.0;   // median of this segment's points
  double change = 0.0;         // after_median / before_median - 1
  // The ratio after / before with its 95% interval, over the segments' samples; empty when the
  // samples are too few or not all positive.
  std::optional<statistics::ratio_interval> interval;
  double p_value = 1.0;
  bool slower = false;  // worse: a time up, a throughput or an accuracy down
};

enum class history_order { ancestry, start_time };
std::string to_string(history_order order);

struct history_series {
  std::string group;  // the hardware fingerprint's label: "group 1", ...
  std::string name;   // the benchmark, or "run <metric> (<workload>)"
  std::string unit;   // "s", "images/s", "%"
  bool lower_is_better = true;
  history_order order = history_order::ancestry;
  std::vector<history_point> points;  // oldest first
  std::vector<history_change> changes;
  // The newest point completes a slower segment that was not there before it: the last change is
  // slower and the history without the newest point does not have it (with a minimum segment of
  // 3, a step shows once three points lie after it). What --fail-on-new fails on.
  bool newest_is_slower = false;
  // Why the newest point cannot be decided yet, empty when it can: it is worse than every point of
  // its segment by at least 1% but too few points follow it for a step to show, or the segment
  // before it is shorter than the minimum. What --fail-on-uncertain fails on.
  std::string newest_uncertain;
};

// A hardware fingerprint: what decides timings, as the snapshots record it (CPU model, cores,
// threads, GPUs and driver, CUDA, cuDNN, LibTorch, compiler, flags and build type).
struct history_group {
  std::string label;                     // "group 1", ... in order of first appearance
  std::vector<std::string> fingerprint;  // "field: value" each
};

struct history_report {
  std::vector<history_group> groups;
  std::vector<history_series> series;  // by group, then by name
  // Groups whose points could not all be ordered by ancestry (a commit the checkout does not know),
  // ordered by start time instead.
  std::vector<std::string> ordering_notes;
};

// The series of the readable inputs, each with its change points. Throws input_error for a bad
// --benchmark expression, an unknown --metric, or options detect_change_points refuses.
history_report build_history(const std::vector<history_input>& inputs, const history_options& options);

}  // namespace trackbench::tracking
