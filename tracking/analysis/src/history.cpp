#include "trackbench/tracking/analysis/history.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <stdexcept>
#include <system_error>
#include <tuple>
#include <unordered_map>

#include "trackbench/tracking/analysis/compare.h"
#include "trackbench/tracking/analysis/decision.h"
#include "trackbench/tracking/format/guarded_read.h"
#include "trackbench/tracking/format/schema.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

std::string text_of(const json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

// What decides timings, as "field: value" lines: the machine, its GPUs and the build. Not the host
// name (CI runners of one kind have many) nor the code (the thing measured).
std::vector<std::string> fingerprint(const json& environment) {
  std::vector<std::string> lines;
  for (const char* field : {"cpu_model", "cpu_cores", "hardware_threads", "libtorch_threads", "nvidia_driver_version",
                            "cuda_runtime_version", "cudnn_version", "libtorch_version", "libtorch_cuda_version",
                            "compiler", "cxx_flags", "build_type"}) {
    if (environment.contains(field)) lines.push_back(std::string(field) + ": " + text_of(environment[field]));
  }
  if (environment.contains("gpus")) {
    std::vector<std::string> names;
    for (const auto& gpu : environment["gpus"]) names.push_back(text_of(gpu.value("name", json("?"))));
    lines.push_back("gpus: " + (names.empty() ? std::string("none") : joined(names)));
  }
  return lines;
}

// A run metric's series is of one workload: the same data, conv, device, batch and precision.
std::string workload(const run_record& run) {
  std::vector<std::string> parts;
  for (const char* field : {"dataset", "conv", "device_used", "batch_size", "precision"}) {
    if (run.config.contains(field)) parts.push_back(text_of(run.config[field]));
  }
  return joined(parts);
}

bool lower_is_better(const std::string& unit) { return unit == "s"; }

std::string unit_of(const std::string& metric) {
  if (const auto* column = schema::find_metric_column(metric)) return column->unit == "fraction" ? "%" : column->unit;
  for (const auto& field : schema::identity_fields()) {
    if (field.name == metric) return field.unit;
  }
  return "";
}

struct series_key {
  std::size_t group = 0;
  std::string name;
  bool operator<(const series_key& other) const { return std::tie(group, name) < std::tie(other.group, other.name); }
};

// Points in ancestry order when the checkout knows every commit of the series (ties by start
// time: several snapshots of one commit), else by start time.
history_order order_points(std::vector<history_point>& points,
                           const std::unordered_map<std::string, std::size_t>& position) {
  const bool known = std::all_of(points.begin(), points.end(), [&](const auto& p) { return position.count(p.commit) > 0; });
  if (known && !position.empty()) {
    std::stable_sort(points.begin(), points.end(), [&](const auto& a, const auto& b) {
      return std::tie(position.at(a.commit), a.start_time) < std::tie(position.at(b.commit), b.start_time);
    });
    return history_order::ancestry;
  }
  std::stable_sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.start_time < b.start_time; });
  return history_order::start_time;
}

std::vector<double> values_of(const std::vector<history_point>& points) {
  std::vector<double> values;
  for (const auto& point : points) values.push_back(point.value);
  return values;
}

// A step at the newest point shows only once min_segment points lie after it; until then the
// newest point is judged against the settled points of its segment (those before the last
// min_segment - 1). Those are separate runs themselves, so lying beyond all of them is beyond the
// drift between runs; the decision rule's 1% floor keeps a steady series' noise from counting.
std::string newest_uncertainty(const history_series& series, std::size_t min_segment) {
  const std::size_t n = series.points.size();
  const std::size_t segment_start = series.changes.empty() ? 0 : series.changes.back().index;
  const std::size_t settled_end = n >= min_segment ? n - (min_segment - 1) : 0;
  if (settled_end < segment_start + min_segment) {
    return fmt::format("too few points: {} settled in the newest segment, {} needed to judge the newest point",
                       settled_end > segment_start ? settled_end - segment_start : 0, min_segment);
  }
  const auto values = values_of(series.points);
  const std::vector<double> settled(values.begin() + static_cast<std::ptrdiff_t>(segment_start),
                                    values.begin() + static_cast<std::ptrdiff_t>(settled_end));
  const double newest = series.points.back().value;
  const double worst = series.lower_is_better ? *std::max_element(settled.begin(), settled.end())
                                              : *std::min_element(settled.begin(), settled.end());
  const double median = statistics::median(settled);
  const double change = newest / median - 1.0;
  const bool beyond_all = series.lower_is_better ? newest > worst : newest < worst;
  const bool beyond_margin = series.lower_is_better ? change >= min_threshold : change <= -min_threshold;
  if (!beyond_all || !beyond_margin) return "";
  return fmt::format("the newest point is worse than all {} settled points of its segment ({:+.1f}% from their median); "
                     "up to {} more point(s) decide whether a step starts there",
                     settled.size(), 100.0 * change, min_segment - 1);
}

std::vector<history_change> describe_changes(const history_series& series, const std::vector<change_point>& found) {
  std::vector<history_change> changes;
  for (std::size_t c = 0; c < found.size(); ++c) {
    const std::size_t begin = c == 0 ? 0 : found[c - 1].index;
    const std::size_t split = found[c].index;
    const std::size_t end = c + 1 < found.size() ? found[c + 1].index : series.points.size();
    std::vector<double> before, after, before_samples, after_samples;
    for (std::size_t i = begin; i < end; ++i) {
      const auto& point = series.points[i];
      (i < split ? before : after).push_back(point.value);
      auto& samples = i < split ? before_samples : after_samples;
      samples.insert(samples.end(), point.samples.begin(), point.samples.end());
    }
    history_change change;
    change.index = split;
    change.commit = series.points[split].commit;
    change.before_median = statistics::median(before);
    change.after_median = statistics::median(after);
    change.change = change.before_median != 0.0 ? change.after_median / change.before_median - 1.0 : 0.0;
    change.p_value = found[c].p_value;
    change.slower = series.lower_is_better ? change.after_median > change.before_median
                                           : change.after_median < change.before_median;
    try {
      change.interval = statistics::ratio_confidence_interval(after_samples, before_samples);
    } catch (const std::invalid_argument&) {
      // A zero or non-finite value (an accuracy of 0): the change stands without an interval.
    }
    changes.push_back(change);
  }
  return changes;
}

}  // namespace

std::vector<fs::path> history_files(const std::vector<std::string>& arguments) {
  std::vector<fs::path> files;
  for (const auto& argument : arguments) {
    std::error_code error;
    if (fs::is_directory(argument, error)) {
      const auto found = snapshot_files_in(argument);
      if (found.empty()) throw input_error("history: " + argument + " holds no snapshots (*.h5)");
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(argument, error)) {
      files.emplace_back(argument);
    } else {
      throw input_error("history: " + argument + ": no such file or folder");
    }
  }
  return files;
}

std::vector<std::string> recorded_commits(const std::vector<history_input>& inputs) {
  std::vector<std::string> commits;
  for (const auto& input : inputs) {
    const json* code = input.run ? &input.run->code : input.bench ? &input.bench->code : nullptr;
    if (code == nullptr || !code->contains("commit")) continue;
    const auto commit = text_of((*code)["commit"]);
    if (commit != "unknown" && std::find(commits.begin(), commits.end(), commit) == commits.end()) {
      commits.push_back(commit);
    }
  }
  return commits;
}

std::vector<std::string> history_metric_names() {
  std::vector<std::string> names;
  for (const auto& column : schema::metric_columns()) {
    if (column.summary == schema::summary_kind::median) names.push_back(column.name);
  }
  for (const auto& metric : schema::run_level_metrics()) {
    if (unit_of(metric) == "s") names.push_back(metric);
  }
  names.push_back("test_accuracy");
  return names;
}

std::string to_string(history_order order) { return order == history_order::ancestry ? "ancestry" : "start time"; }

history_report build_history(const std::vector<history_input>& inputs, const history_options& options) {
  std::optional<std::regex> pattern;
  if (!options.benchmark_pattern.empty()) {
    try {
      pattern.emplace(options.benchmark_pattern);
    } catch (const std::regex_error& e) {
      throw input_error("--benchmark '" + options.benchmark_pattern + "' is not a regular expression: " + e.what());
    }
  }
  auto metrics = history_metric_names();
  if (!options.metric.empty()) {
    const auto* column = schema::find_metric_column(options.metric);
    const std::string name = column != nullptr ? column->name : options.metric;
    if (std::find(metrics.begin(), metrics.end(), name) == metrics.end()) {
      throw input_error("--metric " + options.metric + ": not a history metric; one of " + joined(metrics));
    }
    metrics = {name};
  }
  // A filter of one kind leaves out the series of the other kind unless it is given too.
  const bool benches_wanted = pattern || options.metric.empty();
  const bool runs_wanted = !options.metric.empty() || !pattern;

  history_report report;
  std::vector<std::vector<std::string>> fingerprints;
  const auto group_of = [&](const json& environment) {
    const auto lines = fingerprint(environment);
    const auto found = std::find(fingerprints.begin(), fingerprints.end(), lines);
    if (found != fingerprints.end()) return static_cast<std::size_t>(found - fingerprints.begin());
    fingerprints.push_back(lines);
    report.groups.push_back({"group " + std::to_string(fingerprints.size()), lines});
    return fingerprints.size() - 1;
  };
  std::map<series_key, history_series> series;
  const auto add = [&](std::size_t group, const std::string& name, const std::string& unit, history_point point) {
    auto& s = series[{group, name}];
    s.group = report.groups[group].label;
    s.name = name;
    s.unit = unit;
    s.lower_is_better = lower_is_better(unit);
    s.points.push_back(std::move(point));
  };
  for (const auto& input : inputs) {
    if (input.bench && benches_wanted) {
      const auto& bench = *input.bench;
      const std::size_t group = group_of(bench.environment);
      for (const auto& result : bench.benchmarks) {
        if (result.skipped || result.samples.empty()) continue;
        if (pattern && !std::regex_search(result.name, *pattern)) continue;
        history_point point{text_of(bench.code.value("commit", json("unknown"))),
                            text_of(bench.identity.value("start_time", json(""))), input.path, 0.0, result.real_seconds()};
        point.value = statistics::median(point.samples);
        add(group, result.name, "s", std::move(point));
      }
    }
    if (input.run && runs_wanted) {
      const auto& run = *input.run;
      const std::size_t group = group_of(run.environment);
      for (const auto& metric : metrics) {
        const auto value = summary_metric(run, metric);
        if (!value || !std::isfinite(*value)) continue;
        add(group, "run " + metric + " (" + workload(run) + ")", unit_of(metric),
            {text_of(run.code.value("commit", json("unknown"))), text_of(run.identity.value("start_time", json(""))),
             input.path, *value, {*value}});
      }
    }
  }

  std::unordered_map<std::string, std::size_t> position;
  for (std::size_t i = 0; i < options.ancestry.size(); ++i) position.emplace(options.ancestry[i], i);
  std::vector<bool> noted(report.groups.size(), false);
  for (auto& [key, s] : series) {
    s.order = order_points(s.points, position);
    if (s.order == history_order::start_time && !noted[key.group]) {
      noted[key.group] = true;
      report.ordering_notes.push_back(s.group + " is ordered by start time: " +
                                      (position.empty() ? std::string("no checkout knows its commits")
                                                        : std::string("the checkout does not know every commit")));
    }
    std::vector<change_point> found;
    try {
      found = detect_change_points(values_of(s.points), options.detection);
    } catch (const std::invalid_argument& e) {
      throw input_error(std::string("history: ") + e.what() + " (--min-segment, --p-value)");
    }
    s.changes = describe_changes(s, found);
    if (!s.changes.empty() && s.changes.back().slower && s.points.size() > 1) {
      auto without_newest = values_of(s.points);
      without_newest.pop_back();
      const auto before = detect_change_points(without_newest, options.detection);
      const std::size_t index = s.changes.back().index;
      s.newest_is_slower = std::none_of(before.begin(), before.end(), [&](const auto& c) { return c.index == index; });
    }
    if (!s.newest_is_slower) s.newest_uncertain = newest_uncertainty(s, options.detection.min_segment);
    report.series.push_back(std::move(s));
  }
  return report;
}

}  // namespace trackbench::tracking
