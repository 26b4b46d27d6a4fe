// history: bench and run snapshots of many commits as series per hardware group, each with its
// change points (E-divisive means and Welch's t-test), for a terminal, as JSON, as a Markdown
// table and as JUnit XML; --fail-on-new exits 1 when the newest point starts a slower segment, and
// --fail-on-uncertain exits 3 when the newest point cannot be decided yet.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "bench_output.h"
#include "ci_output.h"
#include "commands.h"
#include "console.h"
#include "exit_codes.h"
#include "trackbench/tracking/analysis/history.h"
#include "trackbench/tracking/recording/recorder.h"

namespace trackbench::cli {
namespace {

using json = nlohmann::ordered_json;

struct history_flags {
  std::vector<std::string> inputs;
  std::string benchmark;
  std::string metric;
  std::string repo = ".";
  double p_value = tracking::default_change_p_value;
  std::size_t min_segment = tracking::default_min_segment;
  bool fail_on_new = false;
  bool fail_on_uncertain = false;
  bool as_json = false;
  std::string markdown;
  std::string junit;
  bool no_index = false;
};

std::string short_commit(const std::string& commit) { return commit.substr(0, 8); }

std::string value_text(const tracking::history_series& series, double value) {
  return series.unit == "s" ? format_seconds(value) : fmt::format("{:.4g} {}", value, series.unit);
}

std::string interval_text(const tracking::history_change& change) {
  if (!change.interval) return "no 95% interval (too few samples)";
  return fmt::format("95% interval {:+.1f}% to {:+.1f}%", 100.0 * (change.interval->low - 1.0),
                     100.0 * (change.interval->high - 1.0));
}

// "at 1a2b3c4d: 1.02 ms -> 1.05 ms, +3.0% (95% interval +2.6% to +3.4%), slower, p = 1.2e-09"
std::string change_text(const tracking::history_series& series, const tracking::history_change& change) {
  return fmt::format("at {}: {} -> {}, {:+.1f}% ({}), {}, p = {:.2g}", printable(short_commit(change.commit)),
                     value_text(series, change.before_median), value_text(series, change.after_median),
                     100.0 * change.change, interval_text(change), change.slower ? "slower" : "faster", change.p_value);
}

json interval_json(const tracking::history_change& change) {
  if (!change.interval) return nullptr;
  return {{"ratio", change.interval->estimate}, {"low", change.interval->low}, {"high", change.interval->high},
          {"exact", change.interval->exact}};
}

json report_json(const tracking::history_report& report, const std::vector<tracking::history_input>& inputs,
                 const history_flags& flags, bool failed) {
  json out{{"repo", flags.repo},
           {"p_value", flags.p_value},
           {"min_segment", flags.min_segment},
           {"groups", json::array()},
           {"series", json::array()},
           {"ordering_notes", report.ordering_notes},
           {"unreadable", json::array()},
           {"newest_is_slower", false},
           {"newest_is_uncertain", false},
           {"passed", !failed}};
  for (const auto& group : report.groups) out["groups"].push_back({{"label", group.label}, {"fingerprint", group.fingerprint}});
  for (const auto& series : report.series) {
    json s{{"group", series.group},     {"name", series.name},
           {"unit", series.unit},       {"lower_is_better", series.lower_is_better},
           {"order", tracking::to_string(series.order)}, {"points", json::array()},
           {"changes", json::array()},  {"newest_is_slower", series.newest_is_slower},
           {"newest_uncertain", series.newest_uncertain.empty() ? json(nullptr) : json(series.newest_uncertain)}};
    for (const auto& point : series.points) {
      s["points"].push_back({{"commit", point.commit}, {"start_time", point.start_time}, {"path", point.path},
                             {"value", point.value}, {"samples", point.samples.size()}});
    }
    for (const auto& change : series.changes) {
      s["changes"].push_back({{"index", change.index},
                              {"commit", change.commit},
                              {"before_median", change.before_median},
                              {"after_median", change.after_median},
                              {"change", change.change},
                              {"interval", interval_json(change)},
                              {"p_value", change.p_value},
                              {"verdict", change.slower ? "slower" : "faster"}});
    }
    if (series.newest_is_slower) out["newest_is_slower"] = true;
    if (!series.newest_uncertain.empty()) out["newest_is_uncertain"] = true;
    out["series"].push_back(std::move(s));
  }
  for (const auto& input : inputs) {
    if (!input.error.empty()) out["unreadable"].push_back({{"path", input.path}, {"error", input.error}});
  }
  return out;
}

void print_report(const tracking::history_report& report, std::size_t readable) {
  fmt::print("history of {} (changes are after against before; times are medians per iteration)\n",
             tracking::count_of(static_cast<std::int64_t>(readable), "snapshot"));
  for (const auto& group : report.groups) fmt::print("{}: {}\n", group.label, printable(tracking::joined(group.fingerprint, "; ")));
  for (const auto& note : report.ordering_notes) fmt::print("note: {}\n", printable(note));
  for (const auto& series : report.series) {
    fmt::print("\n{}  {}  {}, ordered by {}\n", series.group, printable(series.name),
               tracking::count_of(static_cast<std::int64_t>(series.points.size()), "point"), tracking::to_string(series.order));
    if (series.changes.empty()) fmt::print("  no change points\n");
    for (const auto& change : series.changes) fmt::print("  change {}\n", change_text(series, change));
    if (series.newest_is_slower) fmt::print("  NEWEST POINT STARTS A SLOWER SEGMENT\n");
    if (!series.newest_uncertain.empty()) fmt::print("  newest point uncertain: {}\n", series.newest_uncertain);
  }
  if (report.series.empty()) fmt::print("no series (nothing matched, or no readable snapshot)\n");
}

std::string markdown_table(const tracking::history_report& report) {
  std::string text = "| group | series | points | change points | newest |\n| --- | --- | ---: | --- | --- |\n";
  for (const auto& series : report.series) {
    std::string changes;
    for (const auto& change : series.changes) changes += (changes.empty() ? "" : "<br>") + markdown_cell(change_text(series, change));
    text += fmt::format("| {} | {} | {} | {} | {} |\n", markdown_cell(series.group), markdown_cell(series.name),
                        series.points.size(), changes.empty() ? "none" : changes,
                        series.newest_is_slower ? "**slower**" : !series.newest_uncertain.empty() ? "uncertain" : "-");
  }
  return text;
}

std::vector<junit_case> junit_cases(const tracking::history_report& report, bool fail_on_uncertain) {
  std::vector<junit_case> cases;
  for (const auto& series : report.series) {
    junit_case c{series.group, series.name, std::nullopt, ""};
    for (const auto& change : series.changes) c.output += "change " + change_text(series, change) + "\n";
    if (!series.newest_uncertain.empty()) c.output += "newest point uncertain: " + series.newest_uncertain + "\n";
    if (series.newest_is_slower) {
      c.failure = "newest point starts a slower segment: change " + change_text(series, series.changes.back());
    } else if (fail_on_uncertain && !series.newest_uncertain.empty()) {
      c.failure = "newest point uncertain: " + series.newest_uncertain;
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

int history(const history_flags& flags) {
  const auto inputs = read_records(tracking::history_files(flags.inputs), flags.no_index);
  tracking::history_options options;
  options.benchmark_pattern = flags.benchmark;
  options.metric = flags.metric;
  options.detection = {flags.p_value, flags.min_segment};
  options.ancestry = tracking::git_ancestry(flags.repo, tracking::recorded_commits(inputs));
  const auto report = tracking::build_history(inputs, options);

  std::size_t unreadable = 0;
  for (const auto& input : inputs) {
    if (!input.error.empty()) {
      spdlog::error("{}", printable(input.error));
      ++unreadable;
    }
  }
  bool newest_slower = false;
  bool newest_uncertain = false;
  for (const auto& series : report.series) {
    newest_slower = newest_slower || series.newest_is_slower;
    newest_uncertain = newest_uncertain || !series.newest_uncertain.empty();
  }
  const bool failed = flags.fail_on_new && newest_slower;
  const bool inconclusive = !failed && flags.fail_on_uncertain && newest_uncertain;

  if (flags.as_json) {
    fmt::print("{}\n", report_json(report, inputs, flags, failed || inconclusive).dump(2, ' ', false, json::error_handler_t::replace));
  } else {
    print_report(report, inputs.size() - unreadable);
  }
  if (!flags.markdown.empty()) write_text(flags.markdown, "--markdown", markdown_table(report));
  if (!flags.junit.empty()) write_junit(flags.junit, "--junit", "trackbench history", junit_cases(report, flags.fail_on_uncertain));
  for (const auto& series : report.series) {
    if (series.newest_is_slower) {
      const auto message = fmt::format("{} {}: the newest point starts a slower segment: change {}", series.group,
                                       printable(series.name), change_text(series, series.changes.back()));
      spdlog::log(flags.fail_on_new ? spdlog::level::err : spdlog::level::warn, "{}", message);
    }
  }
  if (inconclusive) spdlog::error("--fail-on-uncertain: the newest point of some series cannot be decided yet");
  if (unreadable > 0) return exit_bad_input;
  return failed ? exit_failure : inconclusive ? exit_inconclusive : exit_pass;
}

}  // namespace

command add_history_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "history",
      "Find the change points of bench and run snapshots across commits, per hardware group. Exit codes: 0 no "
      "regression, 1 --fail-on-new and the newest point starts a slower segment, 2 bad input (an unreadable file, "
      "after printing what could be read), 3 --fail-on-uncertain and the newest point of a series cannot be decided yet");
  auto flags = std::make_shared<history_flags>();
  sub->add_option("snapshots", flags->inputs, "Snapshot files (.h5), or folders standing for their *.h5 files")->required();
  sub->add_option("--benchmark", flags->benchmark, "Only the benchmarks whose names match this regular expression (default: all)");
  sub->add_option("--metric", flags->metric,
                  "Only this run metric: " + tracking::joined(tracking::history_metric_names()) + " (default: all)");
  sub->add_option("--repo", flags->repo, "Git checkout that orders the commits by ancestry")->capture_default_str();
  sub->add_option("--p-value", flags->p_value, "Largest (corrected) p of Welch's t-test that keeps a change point")
      ->capture_default_str()
      ->check(CLI::Range(1e-300, 0.5));
  sub->add_option("--min-segment", flags->min_segment, "Fewest points on either side of a change point")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000000));
  sub->add_flag("--fail-on-new", flags->fail_on_new, "Exit 1 when the newest point starts a slower segment (default: off)");
  sub->add_flag("--fail-on-uncertain", flags->fail_on_uncertain,
                "Exit 3 when, nothing failing, the newest point of a series is worse than all of its segment but too few "
                "points follow it to tell a step (default: off)");
  sub->add_flag("--json", flags->as_json, "Print the history as JSON (default: off)");
  add_no_index_flag(*sub, flags->no_index);
  sub->add_option("--markdown", flags->markdown, "Also write a Markdown table to this file, e.g. $GITHUB_STEP_SUMMARY");
  sub->add_option("--junit", flags->junit, "Also write JUnit XML to this file: a testcase per series, failed when its newest point starts a slower segment");
  return {sub, [flags] { return history(*flags); }};
}

}  // namespace trackbench::cli
