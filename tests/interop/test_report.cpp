// The HTML report: escaping of what snapshots hold, and two real runs rendered in headless
// Chromium (Debian's chromium): no console error, every chart present, a screenshot not blank.
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "support/history_fixture.h"
#include "support/idx_files.h"
#include "support/process.h"
#include "support/sample_records.h"
#include "support/temp_dir.h"
#include "trackbench/interop/report.h"

namespace trackbench::testing {
namespace {

namespace fs = std::filesystem;

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::uint32_t be32(const std::string& bytes, std::size_t at) {
  return (std::uint32_t{static_cast<std::uint8_t>(bytes[at])} << 24) |
         (std::uint32_t{static_cast<std::uint8_t>(bytes[at + 1])} << 16) |
         (std::uint32_t{static_cast<std::uint8_t>(bytes[at + 2])} << 8) | static_cast<std::uint8_t>(bytes[at + 3]);
}

// Distinct colours in an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes), at most
// `enough`; 0 when the file is not such a PNG.
std::size_t png_colours(const std::string& png, std::size_t enough) {
  if (png.size() < 33 || png.compare(1, 3, "PNG") != 0) return 0;
  const std::uint32_t width = be32(png, 16), height = be32(png, 20);
  const int depth = static_cast<std::uint8_t>(png[24]), type = static_cast<std::uint8_t>(png[25]);
  if (depth != 8 || (type != 2 && type != 6) || png[28] != 0) return 0;
  const std::size_t channels = type == 6 ? 4 : 3, stride = width * channels;
  std::string compressed;
  for (std::size_t at = 8; at + 8 <= png.size();) {
    const std::uint32_t length = be32(png, at);
    if (png.compare(at + 4, 4, "IDAT") == 0) compressed += png.substr(at + 8, length);
    at += 12 + length;
  }
  std::vector<std::uint8_t> raw((stride + 1) * height);
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(compressed.data()), compressed.size()) != Z_OK) return 0;
  std::vector<std::uint8_t> previous(stride, 0), row(stride);
  std::set<std::uint32_t> colours;
  for (std::uint32_t y = 0; y < height; ++y) {
    const std::uint8_t filter = raw[y * (stride + 1)];
    const std::uint8_t* line = &raw[y * (stride + 1) + 1];
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= channels ? row[x - channels] : 0, b = previous[x], c = x >= channels ? previous[x - channels] : 0;
      int predicted = 0;
      if (filter == 1) predicted = a;
      if (filter == 2) predicted = b;
      if (filter == 3) predicted = (a + b) / 2;
      if (filter == 4) {
        const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
        predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      row[x] = static_cast<std::uint8_t>(line[x] + predicted);
    }
    for (std::size_t x = 0; x + 2 < stride; x += channels) colours.insert(row[x] << 16 | row[x + 1] << 8 | row[x + 2]);
    if (colours.size() >= enough) return colours.size();
    previous = row;
  }
  return colours.size();
}

tracking::run_record crafted_run(const std::string& text) {
  tracking::run_record record;
  record.identity = {{"run_id", "r<1>"}, {"status", "completed"}, {"start_time", "2026-11-27T02:37:55.120Z"}};
  record.config = {{"epochs", 1}, {"device_used", "cpu"}, {"conv", text}};
  record.data = {{"name", "mnist-sample"}};
  record.environment = nlohmann::ordered_json::object();
  record.code = nlohmann::ordered_json::object();
  trainer::epoch_metrics epoch;
  epoch.epoch = 1;
  epoch.test.accuracy = 0.5;
  epoch.test.confusion[3][5] = 7;
  record.epochs.push_back(epoch);
  return record;
}

TEST(Report, EscapesWhatSnapshotsHoldAndLoadsNothing) {
  const auto run = crafted_run("<script>alert('x')</script>");
  const auto page = interop::html_report({{"a&b.h5", &run}}, "now");
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find("r&lt;1&gt;"), std::string::npos);
  EXPECT_NE(page.find("a&amp;b.h5"), std::string::npos);
  EXPECT_NE(page.find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("http://"), std::string::npos);  // no address to load anything from
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_NE(page.find("id=\"chart-confusion-A\""), std::string::npos);
  EXPECT_NE(page.find("One run: nothing to compare."), std::string::npos);
  EXPECT_NE(page.find("@media print"), std::string::npos);
}

TEST(Report, BenchSnapshotsAreBarsWithTheirSpread) {
  auto base = sample_bench_record({1e-3, 1.1e-3, 0.9e-3, 1.0e-3});
  auto next = sample_bench_record({2e-3, 2.2e-3, 1.8e-3, 2.0e-3});
  next.benchmarks[0].name = "<b>renamed</b>";
  const auto page = interop::html_report({}, "now", {{"base.h5", &base}, {"next.h5", &next}});
  EXPECT_NE(page.find("id=\"benches\""), std::string::npos);
  EXPECT_NE(page.find("id=\"chart-bench\""), std::string::npos);
  EXPECT_EQ(page.find("id=\"runs\""), std::string::npos) << "no run sections without runs";
  // Four benchmark names (one only in each snapshot), two bars each where present: 4 bars.
  std::size_t bars = 0;
  for (auto at = page.find("class=\"bar\""); at != std::string::npos; at = page.find("class=\"bar\"", at + 1)) ++bars;
  EXPECT_EQ(bars, 4u);
  EXPECT_NE(page.find("B train_steps/cpu/64: median 2 s"), std::string::npos);  // 2e-3 * 1000 s per step
  EXPECT_NE(page.find("&lt;b&gt;renamed&lt;/b&gt;"), std::string::npos);
  EXPECT_EQ(page.find("<b>renamed"), std::string::npos);
  EXPECT_NE(page.find("A: skipped or absent"), std::string::npos);
}

TEST(Report, SnapshotsOfManyCommitsDrawTheHistoryWithItsChangePoint) {
  temp_dir dir;
  // 12 commits on two CPUs; fixture/work is 3% slower from the 8th commit on, on the first CPU.
  const auto fixture = make_history_fixture(dir.path(), 8, true);
  const auto page_path = dir / "report.html";
  const auto result = run_trackbench("report " + quoted(fixture.snapshots) + " --repo " + quoted(fixture.repo) + " -o " +
                                     quoted(page_path));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto page = read_text(page_path);
  EXPECT_NE(page.find("id=\"history-groups\""), std::string::npos);
  for (const auto* id : {"chart-history-1", "chart-history-2", "chart-history-3", "chart-history-4"}) {
    EXPECT_NE(page.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  }
  EXPECT_EQ(page.find("chart-history-5"), std::string::npos) << "two benchmarks on two CPUs: four series";
  std::size_t markers = 0;
  for (auto at = page.find("class=\"change-point\""); at != std::string::npos;
       at = page.find("class=\"change-point\"", at + 1)) {
    ++markers;
  }
  EXPECT_EQ(markers, 1u) << "only fixture/work on the first CPU changes";
  EXPECT_NE(page.find("slower at " + fixture.commits[7].substr(0, 8)), std::string::npos);
  EXPECT_NE(page.find("commit " + fixture.commits[0].substr(0, 8)), std::string::npos) << "points name their commits";
  EXPECT_NE(page.find("in commit order (git ancestry)"), std::string::npos);
  EXPECT_NE(page.find("id=\"chart-bench\""), std::string::npos) << "24 snapshots still get their bars";
}

TEST(Report, OneBenchSnapshotGivesItsTimesAndTheTableNamesTheGpu) {
  auto only = sample_bench_record({1e-3, 1.1e-3, 0.9e-3, 1.0e-3});
  only.environment["gpus"] = nlohmann::ordered_json::array({{{"index", 0}, {"name", "NVIDIA H200"}}});
  const auto page = interop::html_report({}, "now", {{"only.h5", &only}});
  EXPECT_EQ(page.find("class=\"bar\""), std::string::npos) << "a lone bar would always fill its row";
  EXPECT_NE(page.find("1 ms &#177;"), std::string::npos);
  EXPECT_NE(page.find("<th>GPU</th>"), std::string::npos);
  EXPECT_NE(page.find("<td>NVIDIA H200</td>"), std::string::npos);
  EXPECT_NE(interop::html_report({}, "now", {{"base.h5", &only}, {"next.h5", &only}}).find("class=\"bar\""),
            std::string::npos);
}

// Epoch time and images/s are sizes: their axes start at 0, where the losses' fit the data.
TEST(Report, TimeAndSpeedAxesStartAtZero) {
  auto run = crafted_run("cudnn");
  run.epochs.push_back(run.epochs.front());
  run.epochs[0].epoch_seconds = 10.0;
  run.epochs[1].epoch = 2;
  run.epochs[1].epoch_seconds = 11.0;
  const auto page = interop::html_report({{"a.h5", &run}}, "now");
  const auto chart = page.find("id=\"chart-epoch-time\"");
  ASSERT_NE(chart, std::string::npos);
  const auto first_tick = page.find("text-anchor=\"end\">", chart);
  ASSERT_NE(first_tick, std::string::npos);
  EXPECT_EQ(page.substr(first_tick, 20), "text-anchor=\"end\">0<");
}

// The runs table's cells of each run, by column heading.
std::vector<std::map<std::string, std::string>> runs_table_rows(const std::string& page) {
  const auto start = page.find("<table id=\"runs\">");
  if (start == std::string::npos) {
    ADD_FAILURE() << "no runs table";
    return {};
  }
  const std::string table = page.substr(start, page.find("</table>", start) - start);
  const auto cells = [&](const std::string& row, const std::string& tag) {
    std::vector<std::string> out;
    const std::string open = "<" + tag + ">", close = "</" + tag + ">";
    for (auto at = row.find(open); at != std::string::npos; at = row.find(open, at + 1)) {
      const auto begin = at + open.size();
      out.push_back(row.substr(begin, row.find(close, begin) - begin));
    }
    return out;
  };
  const auto body = table.find("<tbody>");
  const auto headings = cells(table.substr(0, body), "th");
  std::vector<std::map<std::string, std::string>> rows;
  for (auto at = table.find("<tr>", body); at != std::string::npos; at = table.find("<tr>", at + 1)) {
    const auto values = cells(table.substr(at, table.find("</tr>", at) - at), "td");
    EXPECT_EQ(values.size(), headings.size()) << table;
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < std::min(values.size(), headings.size()); ++i) row[headings[i]] = values[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

// Precision, --target and warm-up each land in their own column: a target reached with the
// epoch and time to it, one missed with the epochs run, and "-" for what an older file lacks.
TEST(Report, RunsTableShowsPrecisionTargetAndWarmup) {
  auto reached = crafted_run("custom");
  reached.config["precision"] = "tf32";
  reached.config["target"] = "test_accuracy:0.5";
  reached.identity["warmup_seconds"] = 0.5;
  reached.identity["target_reached_epoch"] = 1;
  reached.identity["time_to_target_seconds"] = 12.345;
  auto missed = crafted_run("cudnn");
  missed.config["epochs"] = 2;
  missed.config["precision"] = "fp32";
  missed.config["target"] = "test_accuracy:0.99";
  missed.identity["warmup_seconds"] = 1.25;
  missed.identity["target_reached_epoch"] = 0;
  missed.identity["time_to_target_seconds"] = std::numeric_limits<double>::quiet_NaN();
  missed.epochs.push_back(missed.epochs.front());
  missed.epochs[1].epoch = 2;
  const auto older = crafted_run("cudnn");  // schema v2: no precision, target or warm-up

  const auto page = interop::html_report({{"a.h5", &reached}, {"b.h5", &missed}, {"c.h5", &older}}, "now");
  const auto rows = runs_table_rows(page);
  ASSERT_EQ(rows.size(), 3u) << page;
  EXPECT_EQ(rows[0].at("conv"), "custom");
  EXPECT_EQ(rows[0].at("precision"), "tf32");
  EXPECT_EQ(rows[0].at("target"),
            "test_accuracy:0.5 reached at epoch 1, 12.345 s after training began (warm-up included)");
  EXPECT_EQ(rows[0].at("warm-up"), "0.500 s");
  EXPECT_EQ(rows[1].at("precision"), "fp32");
  EXPECT_EQ(rows[1].at("target"), "test_accuracy:0.99 not reached in 2 epochs");
  EXPECT_EQ(rows[1].at("warm-up"), "1.250 s");
  EXPECT_EQ(rows[1].at("epochs"), "2/2");
  for (const std::string column : {"precision", "target", "warm-up"}) EXPECT_EQ(rows[2].at(column), "-") << column;
}

TEST(Report, TwoRunsRenderInHeadlessChromiumWithEveryChart) {
  const auto chromium = run_command("command -v chromium");
  if (chromium.exit_code != 0) GTEST_SKIP() << "test_report.cpp: no chromium on PATH (scripts/setup.sh installs it)";
  temp_dir dir;
  fs::create_directories(dir / "data");
  write_sample_subset(dir / "data", 640, 200);
  std::vector<std::string> snapshots;
  for (const std::string lr : {"0.001", "0.002"}) {
    const auto out = dir / ("runs-" + lr);
    const auto trained = run_trackbench("-q train --data-dir " + quoted(dir / "data") +
                                        " --device cpu --threads 2 --epochs 2 --lr " + lr + " --out " + quoted(out));
    ASSERT_EQ(trained.exit_code, 0) << trained.output;
    for (const auto& entry : fs::directory_iterator(out)) snapshots.push_back(quoted(entry.path()));
  }
  ASSERT_EQ(snapshots.size(), 2u);
  for (const double scale : {1.0, 1.3}) {
    const auto bench = dir / ("bench-" + std::to_string(scale) + ".h5");
    tracking::write_bench_snapshot(bench, sample_bench_record({1e-3 * scale, 1.1e-3 * scale, 0.9e-3 * scale}));
    snapshots.push_back(quoted(bench));
  }
  const auto html = dir / "report.html";
  const auto made = run_trackbench("report " + snapshots[0] + " " + snapshots[1] + " " + snapshots[2] + " " +
                                   snapshots[3] + " -o " + quoted(html));
  ASSERT_EQ(made.exit_code, 0) << made.output;

  // One private profile per run, so concurrent tests and a user's Chromium never meet.
  const std::string browser = "timeout 120 chromium --headless --disable-gpu --no-sandbox --no-first-run "
                              "--user-data-dir=" + quoted(dir / "profile") + " --window-size=1280,2400 ";
  const auto dom = run_command(browser + "--enable-logging=stderr --v=0 --dump-dom 'file://" + html.string() + "'");
  ASSERT_EQ(dom.exit_code, 0) << dom.output;
  for (const std::string id : {"chart-loss", "chart-accuracy", "chart-epoch-time", "chart-images-per-second",
                               "chart-confusion-A", "chart-confusion-B", "runs", "differences", "benches",
                               "chart-bench"}) {
    EXPECT_NE(dom.output.find("id=\"" + id + "\""), std::string::npos) << id;
  }
  EXPECT_NE(dom.output.find("config.learning_rate"), std::string::npos) << "the differences table names the lr";
  // 2 runs x 3 splits for loss and accuracy, 2 for epoch time and images/s.
  std::size_t lines = 0;
  for (auto at = dom.output.find("<polyline"); at != std::string::npos; at = dom.output.find("<polyline", at + 1)) ++lines;
  EXPECT_EQ(lines, 16u);
  for (const std::string error : {"Uncaught", "CONSOLE", "Refused to"}) {
    EXPECT_EQ(dom.output.find(error), std::string::npos) << error << "\n" << dom.output.substr(0, 4000);
  }

  const auto png = dir / "report.png";
  const auto shot = run_command(browser + "--hide-scrollbars --screenshot=" + quoted(png) + " 'file://" + html.string() + "'");
  ASSERT_EQ(shot.exit_code, 0) << shot.output;
  // White, text, grid and the runs' colours: a blank or failed page has one or two.
  EXPECT_GE(png_colours(read_text(png), 16), 16u);
}

}  // namespace
}  // namespace trackbench::testing
