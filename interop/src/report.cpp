#include "trackbench/interop/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "json_text.h"
#include "trackbench/interop/markup.h"
#include "trackbench/tracking/analysis/compare.h"
#include "trackbench/tracking/analysis/statistics.h"
#include "trackbench/tracking/recording/target.h"

namespace trackbench::interop {
namespace {

// Okabe-Ito colours: told apart by colour-blind readers and distinct in greyscale print.
const std::vector<std::string> palette{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};

std::string label(std::size_t index) { return std::string(1, static_cast<char>('A' + index)); }
std::string colour(std::size_t index) { return palette[index % palette.size()]; }

// Snapshots are shared files: every text from them is escaped before it reaches the page.
struct series {
  std::string name;
  std::string colour;
  std::string dash;  // SVG stroke-dasharray; empty for a solid line
  std::vector<std::pair<double, double>> points;  // (epoch, value)
  std::vector<std::string> point_names;  // what each point is, when not "epoch N" (a history's commits)
};

// A line chart's x axis: epochs by default; a history's points in commit order, with a dashed
// vertical line and a note at each change point (x between the two points it separates).
struct x_axis {
  std::string label = "epoch";
  std::vector<std::pair<double, std::string>> markers;
};

// Round tick spacing (1, 2 or 5 times a power of ten) giving about `count` ticks over the span.
double tick_step(double span, int count) {
  const double raw = span / count;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double factor : {1.0, 2.0, 5.0}) {
    if (raw <= factor * magnitude) return factor * magnitude;
  }
  return 10.0 * magnitude;
}

// `from_zero`: the y axis starts at 0 (times and rates, whose size matters, not just their shape).
std::string line_chart(const std::string& id, const std::string& title, const std::string& unit,
                       const std::vector<series>& lines, bool from_zero = false, const x_axis& axis = {}) {
  constexpr double width = 720, height = 320, left = 64, right = 190, top = 16, bottom = 44;
  constexpr double plot_width = width - left - right, plot_height = height - top - bottom;
  double x_max = 1, y_min = std::numeric_limits<double>::infinity(), y_max = -y_min;
  for (const auto& line : lines) {
    for (const auto& [x, y] : line.points) {
      x_max = std::max(x_max, x);
      y_min = std::min(y_min, y);
      y_max = std::max(y_max, y);
    }
  }
  std::string out = fmt::format("<figure class=\"chart line\" id=\"{}\"><figcaption>{}</figcaption>\n", id, escape_markup(title));
  if (!std::isfinite(y_min)) return out + "<p>No completed epoch records it.</p></figure>\n";
  const double pad = y_max > y_min ? (y_max - y_min) * 0.08 : std::max(std::abs(y_max) * 0.1, 1e-3);
  y_min = from_zero && y_min >= 0 ? 0.0 : y_min - pad;
  y_max += pad;
  const double x_min = 1, x_span = x_max > x_min ? x_max - x_min : 1;
  const auto px = [&](double x) { return left + (x_max > x_min ? (x - x_min) / x_span * plot_width : plot_width / 2); };
  const auto py = [&](double y) { return top + (y_max - y) / (y_max - y_min) * plot_height; };

  out += fmt::format("<svg viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">\n", width, height, escape_markup(title));
  const double y_step = tick_step(y_max - y_min, 5);
  for (double y = std::ceil(y_min / y_step) * y_step; y <= y_max; y += y_step) {
    out += fmt::format("<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\"/>"
                       "<text class=\"tick\" x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n",
                       left, left + plot_width, py(y), py(y), left - 6, py(y) + 4, std::abs(y) < y_step / 1e6 ? 0.0 : y);
  }
  const int x_step = std::max(1, static_cast<int>(std::ceil(x_span / 10)));
  for (int x = 1; x <= static_cast<int>(x_max); x += x_step) {
    out += fmt::format("<text class=\"tick\" x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", px(x),
                       top + plot_height + 16, x);
  }
  out += fmt::format("<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\n", left, top, plot_width, plot_height);
  out += fmt::format("<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + plot_width / 2,
                     height - 6, escape_markup(axis.label));
  for (std::size_t m = 0; m < axis.markers.size(); ++m) {
    const auto& [x, note] = axis.markers[m];
    out += fmt::format("<line class=\"change-point\" x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\"/>"
                       "<text class=\"tick\" x=\"{3:.1f}\" y=\"{4}\">{5}</text>\n",
                       px(x), top, top + plot_height, px(x) + 4, top + 12 + 14 * static_cast<double>(m % 3),
                       escape_markup(note));
  }
  out += fmt::format("<text class=\"axis\" transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     top + plot_height / 2, escape_markup(unit));
  double legend_y = top + 8;
  for (const auto& line : lines) {
    if (line.points.empty()) continue;
    std::string coordinates;
    for (const auto& [x, y] : line.points) coordinates += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
    const std::string dash = line.dash.empty() ? "" : " stroke-dasharray=\"" + line.dash + "\"";
    out += fmt::format("<polyline class=\"series\" stroke=\"{}\"{} points=\"{}\"/>\n", line.colour, dash, coordinates);
    for (std::size_t p = 0; p < line.points.size(); ++p) {
      const auto& [x, y] = line.points[p];
      const auto point = p < line.point_names.size() ? line.point_names[p] : fmt::format("{} {}", axis.label, x);
      out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"{}\"><title>{}, {}: {:.6g}</title></circle>\n",
                         px(x), py(y), line.colour, escape_markup(line.name), escape_markup(point), y);
    }
    out += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"2\"{}/>"
                       "<text class=\"legend\" x=\"{}\" y=\"{:.1f}\">{}</text>\n",
                       width - right + 12, width - right + 40, legend_y, legend_y, line.colour, dash, width - right + 46,
                       legend_y + 4, escape_markup(line.name));
    legend_y += 18;
  }
  return out + "</svg></figure>\n";
}

// One series per run and split: solid for training, dashed for validation, dotted for test.
std::vector<series> split_series(const std::vector<report_run>& runs, const std::string& train, const std::string& validation,
                                 const std::string& test, double scale) {
  const std::vector<std::pair<std::string, std::string>> splits{{train, ""}, {validation, "7 4"}, {test, "2 3"}};
  std::vector<series> lines;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const auto document = tracking::to_json(*runs[r].record);
    for (const auto& [column, dash] : splits) {
      series line{label(r) + " " + column, colour(r), dash, {}};
      for (const auto& epoch : document["epochs"]) {
        if (epoch[column].is_number()) line.points.emplace_back(epoch["epoch"].get<double>(), epoch[column].get<double>() * scale);
      }
      if (!line.points.empty()) lines.push_back(std::move(line));
    }
  }
  return lines;
}

std::vector<series> run_series(const std::vector<report_run>& runs, const std::string& column) {
  std::vector<series> lines;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    series line{label(r) + " " + column, colour(r), "", {}};
    const auto document = tracking::to_json(*runs[r].record);
    for (const auto& epoch : document["epochs"]) {
      if (epoch[column].is_number()) line.points.emplace_back(epoch["epoch"].get<double>(), epoch[column].get<double>());
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

// The final epoch's test confusion matrix, each cell shaded by its share of its row (the
// recall of that digit), with the count written in it.
std::string confusion_heat_map(std::size_t index, const tracking::run_record& record) {
  constexpr double cell = 30, left = 56, top = 40;
  const auto& last = record.epochs.back();
  const auto& matrix = last.test.confusion;
  const int classes = static_cast<int>(matrix.size());
  const double size = left + cell * classes + 12;
  std::string out = fmt::format(
      "<figure class=\"chart confusion\" id=\"chart-confusion-{}\"><figcaption>{}: test confusion after epoch {} (rows: "
      "actual digit, columns: predicted; shade: share of the row)</figcaption>\n<svg viewBox=\"0 0 {} {}\" role=\"img\" "
      "aria-label=\"confusion matrix of run {}\">\n",
      label(index), label(index), last.epoch, size, size, label(index));
  out += fmt::format("<text class=\"axis\" x=\"{}\" y=\"12\" text-anchor=\"middle\">predicted</text>\n",
                     left + cell * classes / 2);
  out += fmt::format("<text class=\"axis\" transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">actual</text>\n",
                     top + cell * classes / 2);
  for (int digit = 0; digit < classes; ++digit) {
    out += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>"
                       "<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
                       left + cell * (digit + 0.5), top - 6, digit, left - 6, top + cell * (digit + 0.5) + 4, digit);
  }
  for (int actual = 0; actual < classes; ++actual) {
    std::int64_t row_total = 0;
    for (const auto count : matrix[actual]) row_total += count;
    for (int predicted = 0; predicted < classes; ++predicted) {
      const auto count = matrix[actual][predicted];
      const double share = row_total > 0 ? static_cast<double>(count) / static_cast<double>(row_total) : 0.0;
      const double x = left + cell * predicted, y = top + cell * actual;
      out += fmt::format("<rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#0072B2\" "
                         "fill-opacity=\"{:.3f}\"><title>actual {}, predicted {}: {} ({:.1f}% of the row)</title></rect>",
                         x, y, cell, cell, 0.04 + 0.96 * share, actual, predicted, count, 100.0 * share);
      out += fmt::format("<text class=\"count\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\">{}</text>\n",
                         x + cell / 2, y + cell / 2 + 4, share > 0.5 ? "#ffffff" : "#000000", count);
    }
  }
  return out + "</svg></figure>\n";
}

std::string runs_table(const std::vector<report_run>& runs) {
  std::string out =
      "<table id=\"runs\"><thead><tr><th></th><th>run</th><th>status</th><th>data set</th><th>epochs</th>"
      "<th>final test accuracy</th><th>device</th><th>conv</th><th>precision</th><th>target</th><th>warm-up</th>"
      "<th>started (UTC)</th><th>file</th></tr></thead><tbody>\n";
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const auto& record = *runs[r].record;
    const std::string accuracy = record.epochs.empty() ? "-" : fmt::format("{:.2f}%", 100.0 * record.epochs.back().test.accuracy);
    const std::string target = tracking::describe_target(record);
    const auto warmup_seconds = tracking::summary_metric(record, "warmup_seconds");
    const std::string warmup = warmup_seconds ? fmt::format("{:.3f} s", *warmup_seconds) : "-";
    out += fmt::format(
        "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        colour(r), label(r), escape_markup(text_of(record.identity["run_id"])), escape_markup(tracking::displayed_status(record)),
        escape_markup(text_of(record.data["name"])), record.epochs.size(), text_of(record.config["epochs"]), accuracy,
        escape_markup(text_of(record.config["device_used"])), escape_markup(text_of(record.config["conv"])),
        escape_markup(record.config.value("precision", std::string("-"))), escape_markup(target.empty() ? "-" : target), warmup,
        escape_markup(text_of(record.identity["start_time"])), escape_markup(runs[r].path));
  }
  return out + "</tbody></table>\n";
}

std::string differences_table(const std::vector<report_run>& runs) {
  if (runs.size() < 2) return "<p id=\"differences\">One run: nothing to compare.</p>\n";
  std::vector<const tracking::run_record*> records;
  for (const auto& run : runs) records.push_back(run.record);
  const auto differences = tracking::differing_fields(records);
  if (differences.empty()) return "<p id=\"differences\">None: config, environment, code and data are the same.</p>\n";
  std::string out = "<table id=\"differences\"><thead><tr><th>field</th>";
  for (std::size_t r = 0; r < runs.size(); ++r) out += "<th>" + label(r) + "</th>";
  out += "</tr></thead><tbody>\n";
  for (const auto& difference : differences) {
    out += "<tr><td>" + escape_markup(difference.field) + "</td>";
    for (const auto& value : difference.values) out += "<td>" + escape_markup(value) + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n";
}

// The GPUs the CUDA runtime saw when the benchmarks ran, by name; "none" without one.
std::string gpu_names(const tracking::bench_record& record) {
  std::string names;
  for (const auto& gpu : record.environment["gpus"]) names += (names.empty() ? "" : ", ") + text_of(gpu["name"]);
  return names.empty() ? "none" : names;
}

std::string benches_table(const std::vector<report_bench>& benches) {
  std::string out = "<table id=\"benches\"><thead><tr><th></th><th>bench snapshot</th><th>benchmarks</th>"
                    "<th>repetitions</th><th>CPU</th><th>GPU</th><th>started (UTC)</th><th>file</th></tr></thead><tbody>\n";
  for (std::size_t b = 0; b < benches.size(); ++b) {
    const auto& record = *benches[b].record;
    out += fmt::format("<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td><td>{}</td><td>{}</td>"
                       "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                       colour(b), label(b), escape_markup(text_of(record.identity["bench_id"])), record.benchmarks.size(),
                       text_of(record.identity["repetitions"]), escape_markup(text_of(record.environment["cpu_model"])),
                       escape_markup(gpu_names(record)), escape_markup(text_of(record.identity["start_time"])), escape_markup(benches[b].path));
  }
  return out + "</tbody></table>\n";
}

// 1.23 ms: three significant digits in the unit that fits.
std::string seconds_text(double seconds) {
  if (seconds >= 1.0 || seconds == 0.0) return fmt::format("{:.3g} s", seconds);
  if (seconds >= 1e-3) return fmt::format("{:.3g} ms", seconds * 1e3);
  if (seconds >= 1e-6) return fmt::format("{:.3g} us", seconds * 1e6);
  return fmt::format("{:.3g} ns", seconds * 1e9);
}

// One row per benchmark, one bar per bench snapshot: the median time per iteration, whiskers
// from median - spread to median + spread (the spread as compare computes it). Benchmarks take
// from nanoseconds to seconds, so each row has its own scale, from 0 to its longest whisker,
// shared by the snapshots. A single snapshot has nothing to be compared with: a bar would
// always fill its row, so its rows give the time and spread as text.
std::string bench_bars(const std::vector<report_bench>& benches) {
  std::vector<std::string> names;
  for (const auto& bench : benches) {
    for (const auto& result : bench.record->benchmarks) {
      if (std::find(names.begin(), names.end(), result.name) == names.end()) names.push_back(result.name);
    }
  }
  constexpr double width = 900, label_width = 330, value_width = 90, bar_height = 12, gap = 10;
  constexpr double plot_width = width - label_width - value_width;
  const double row_height = bar_height * static_cast<double>(benches.size()) + gap;
  const double height = row_height * static_cast<double>(names.size()) + 8;
  const bool single = benches.size() == 1;
  std::string out = single ? "<figure class=\"chart bars\" id=\"chart-bench\"><figcaption>Median time per iteration "
                             "&#177; spread (one bench snapshot: nothing to scale against)</figcaption>\n"
                           : "<figure class=\"chart bars\" id=\"chart-bench\"><figcaption>Median time per iteration; "
                             "whiskers: median &#177; spread; each benchmark on one scale from 0, shared by the "
                             "snapshots</figcaption>\n";
  if (names.empty()) return out + "<p>No benchmark recorded.</p></figure>\n";
  out += fmt::format("<svg viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"bench results\">\n", width, height);
  for (std::size_t n = 0; n < names.size(); ++n) {
    const double top = 4 + row_height * static_cast<double>(n);
    struct bar {
      double median = 0, spread = 0;
      bool present = false;
    };
    std::vector<bar> bars(benches.size());
    double longest = 0;
    for (std::size_t b = 0; b < benches.size(); ++b) {
      for (const auto& result : benches[b].record->benchmarks) {
        if (result.name != names[n] || result.samples.empty()) continue;
        const auto times = result.real_seconds();
        bars[b] = {tracking::statistics::median(times), tracking::statistics::relative_spread(times), true};
        longest = std::max(longest, bars[b].median * (1 + bars[b].spread));
      }
    }
    out += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", label_width - 8,
                       top + row_height / 2, escape_markup(names[n]));
    for (std::size_t b = 0; b < benches.size(); ++b) {
      const double y = top + bar_height * static_cast<double>(b);
      if (!bars[b].present || longest <= 0) {
        out += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{:.1f}\">{}: skipped or absent</text>\n", label_width + 4,
                           y + bar_height - 3, label(b));
        continue;
      }
      if (single) {
        out += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{:.1f}\">{} &#177; {:.1f}%</text>\n", label_width + 4,
                           y + bar_height - 3, seconds_text(bars[b].median), 100.0 * bars[b].spread);
        continue;
      }
      const auto px = [&](double seconds) { return label_width + seconds / longest * plot_width; };
      const double low = bars[b].median * (1 - std::min(bars[b].spread, 1.0)), high = bars[b].median * (1 + bars[b].spread);
      out += fmt::format("<rect class=\"bar\" x=\"{}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\">"
                         "<title>{} {}: median {}, spread {:.1f}%</title></rect>",
                         label_width, y + 1, px(bars[b].median) - label_width, bar_height - 2, colour(b), label(b),
                         escape_markup(names[n]), seconds_text(bars[b].median), 100.0 * bars[b].spread);
      out += fmt::format("<line class=\"whisker\" x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\"/>", px(low),
                         px(high), y + bar_height / 2, y + bar_height / 2);
      for (const double end : {low, high}) {
        out += fmt::format("<line class=\"whisker\" x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\"/>", px(end),
                           px(end), y + 2, y + bar_height - 2);
      }
      out += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{:.1f}\">{} {}</text>\n", width - value_width + 6,
                         y + bar_height - 3, label(b), seconds_text(bars[b].median));
    }
  }
  return out + "</svg></figure>\n";
}

// The hardware groups of a history, each with its fingerprint.
std::string history_groups_table(const tracking::history_report& history) {
  std::string out = "<table id=\"history-groups\"><tr><th>group</th><th>hardware and build</th></tr>\n";
  for (const auto& group : history.groups) {
    std::string fingerprint;
    for (const auto& field : group.fingerprint) fingerprint += (fingerprint.empty() ? "" : "<br>") + escape_markup(field);
    out += "<tr><td>" + escape_markup(group.label) + "</td><td>" + fingerprint + "</td></tr>\n";
  }
  out += "</table>\n";
  for (const auto& note : history.ordering_notes) out += "<p>" + escape_markup(note) + "</p>\n";
  return out;
}

// One series of a history: its value at each snapshot in commit order, the change points marked
// with the change and the commit that starts it. Times are drawn in the unit that fits them.
std::string history_chart(std::size_t index, const tracking::history_series& series_of_history) {
  double largest = 0;
  for (const auto& point : series_of_history.points) largest = std::max(largest, std::abs(point.value));
  std::string unit = series_of_history.unit;
  double scale = 1;
  if (unit == "s" && largest < 1e-3) {
    unit = "us", scale = 1e6;
  } else if (unit == "s" && largest < 1) {
    unit = "ms", scale = 1e3;
  }
  series line{series_of_history.name, colour(0), "", {}, {}};
  for (std::size_t p = 0; p < series_of_history.points.size(); ++p) {
    const auto& point = series_of_history.points[p];
    line.points.emplace_back(static_cast<double>(p + 1), point.value * scale);
    line.point_names.push_back("commit " + point.commit.substr(0, 8) + " (" + point.start_time + ")");
  }
  x_axis axis{series_of_history.order == tracking::history_order::ancestry ? "snapshot, in commit order (git ancestry)"
                                                                             : "snapshot, in start-time order",
              {}};
  for (const auto& change : series_of_history.changes) {
    axis.markers.emplace_back(static_cast<double>(change.index) + 0.5,
                              fmt::format("{:+.1f}% {} at {}", 100.0 * change.change,
                                          change.slower ? "slower" : "faster", change.commit.substr(0, 8)));
  }
  const std::string title = series_of_history.group + ": " + series_of_history.name +
                            (series_of_history.changes.empty() ? " (no change point)" : "");
  // Not from 0: a change of a few percent is what the chart has to show.
  return line_chart("chart-history-" + std::to_string(index + 1), title, unit, {line}, false, axis);
}

const char* const style = R"(
body { font: 14px/1.4 system-ui, sans-serif; color: #111; margin: 24px auto; max-width: 1100px; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f2f2f2; white-space: nowrap; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
figure { margin: 12px 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
figure.line svg { width: 100%; max-width: 720px; height: auto; }
figure.bars svg { width: 100%; height: auto; } .whisker { stroke: #111; stroke-width: 1.2; }
figure.confusion { display: inline-block; margin-right: 16px; } figure.confusion svg { width: 360px; height: auto; }
.grid { stroke: #e4e4e4; } .frame { fill: none; stroke: #888; }
.change-point { stroke: #D55E00; stroke-width: 1.5; stroke-dasharray: 5 3; }
.series { fill: none; stroke-width: 2; }
.tick, .legend, .count { font-size: 11px; } .axis { font-size: 12px; fill: #444; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  figure, table { break-inside: avoid; page-break-inside: avoid; }
  figure.line svg { max-width: 17cm; }
  figure.confusion svg { width: 8cm; }
  h2 { break-after: avoid; page-break-after: avoid; }
}
)";

}  // namespace

std::string html_report(const std::vector<report_run>& runs, const std::string& generated_at,
                        const std::vector<report_bench>& benches, const tracking::history_report* history) {
  std::string title = "trackbench report: ";
  for (std::size_t r = 0; r < runs.size(); ++r) title += (r ? ", " : "") + text_of(runs[r].record->identity["run_id"]);
  for (std::size_t b = 0; b < benches.size(); ++b) {
    title += (runs.empty() && b == 0 ? "" : ", ") + text_of(benches[b].record->identity["bench_id"]);
  }
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
                    escape_markup(title) + "</title>\n<style>" + style + "</style></head><body>\n";
  out += "<h1>trackbench report</h1>\n<p>Generated " + escape_markup(generated_at) + " from " + std::to_string(runs.size()) +
         " run snapshot" + (runs.size() == 1 ? "" : "s") +
         (benches.empty() ? std::string()
                          : " and " + std::to_string(benches.size()) + " bench snapshot" + (benches.size() == 1 ? "" : "s")) +
         ".</p>\n";

  // Each section is a title and its content; the runs' sections only with runs, the bench
  // results only with bench snapshots.
  std::vector<std::pair<std::string, std::function<std::string()>>> sections;
  if (!runs.empty()) sections = {
      {"Runs", [&] { return runs_table(runs); }},
      {"Loss and accuracy per epoch",
       [&] {
         return line_chart("chart-loss", "Loss per epoch (solid: train, dashed: validation, dotted: test)", "loss (nats)",
                           split_series(runs, "train_loss", "validation_loss", "test_loss", 1.0)) +
                line_chart("chart-accuracy", "Accuracy per epoch (solid: train, dashed: validation, dotted: test)",
                           "accuracy (%)", split_series(runs, "train_accuracy", "validation_accuracy", "test_accuracy", 100.0));
       }},
      {"Speed per epoch",
       [&] {
         return line_chart("chart-epoch-time", "Epoch time: training and evaluation", "seconds",
                           run_series(runs, "epoch_seconds"), true) +
                line_chart("chart-images-per-second", "Training images per second", "images/s",
                           run_series(runs, "images_per_second"), true);
       }},
      {"Final test confusion matrix",
       [&] {
         std::string maps;
         for (std::size_t r = 0; r < runs.size(); ++r) {
           if (!runs[r].record->epochs.empty()) maps += confusion_heat_map(r, *runs[r].record);
         }
         return maps.empty() ? "<p>No run completed an epoch.</p>\n" : maps;
       }},
      {"What differs between the runs (config, environment, code, data)", [&] { return differences_table(runs); }},
  };
  if (!benches.empty() && benches.size() <= max_labelled_snapshots) {
    sections.emplace_back("Bench snapshots", [&] { return benches_table(benches); });
    sections.emplace_back("Bench results", [&] { return bench_bars(benches); });
  }
  if (history && !history->series.empty()) {
    sections.emplace_back("History across commits (change points marked)", [&] {
      std::string charts = history_groups_table(*history);
      for (std::size_t s = 0; s < history->series.size(); ++s) charts += history_chart(s, history->series[s]);
      return charts;
    });
  }
  for (const auto& [heading, content] : sections) out += "<section>\n<h2>" + escape_markup(heading) + "</h2>\n" + content() + "</section>\n";
  return out + "</body></html>\n";
}

}  // namespace trackbench::interop
