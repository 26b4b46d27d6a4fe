// Two programs in one bench snapshot (tracking::compare_sides, `trackbench versus`): each
// PREFIX/BASE judged against PREFIX/NEW with the gate's rules and the speed-up's interval.
#include <gtest/gtest.h>

#include <fstream>

#include "support/process.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/analysis/bench_sides.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

using testing::run_trackbench;
using testing::temp_dir;
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// `count` samples of `seconds` per iteration, spread by +-1% in a fixed pattern, with images/s.
bench_result timed(const std::string& name, double seconds, int count) {
  bench_result result;
  result.name = name;
  result.suite = "sides";
  result.run_name = name;
  result.time_unit = "us";
  for (int i = 0; i < count; ++i) {
    const double time = seconds * (1.0 + 0.002 * ((i * 7) % 11 - 5));
    result.samples.push_back({1000, time, 0.0, {{"items_per_second", 1.0 / time}}});
  }
  return result;
}

bench_record with(std::vector<bench_result> benchmarks) {
  bench_record record;
  record.benchmarks = std::move(benchmarks);
  return record;
}

TEST(BenchSides, JudgesEachBaseAgainstItsPartnerWithTheGateRules) {
  const auto record = with({timed("train/64/peer", 1.3e-3, 10), timed("train/64/mine", 1.0e-3, 10),
                            timed("train/256/mine", 2.0e-3, 10), timed("train/256/peer", 2.0e-3, 10)});
  const auto sides = compare_sides(record, "peer", "mine");
  ASSERT_EQ(sides.size(), 2u);
  EXPECT_EQ(sides[0].prefix, "train/64");
  EXPECT_EQ(sides[0].change.verdict, bench_verdict::faster);
  ASSERT_TRUE(sides[0].speedup.has_value());
  EXPECT_GT(sides[0].speedup->low, 1.2);
  EXPECT_LT(sides[0].speedup->high, 1.4);
  ASSERT_TRUE(sides[0].new_items_per_second.has_value());
  EXPECT_NEAR(*sides[0].new_items_per_second / *sides[0].base_items_per_second, 1.3, 0.02);
  EXPECT_EQ(sides[1].prefix, "train/256");
  EXPECT_EQ(sides[1].change.verdict, bench_verdict::same);
  EXPECT_LT(sides[1].speedup->low, 1.0);
  EXPECT_GT(sides[1].speedup->high, 1.0);
  // The verdict is compare's own on the same samples.
  const auto direct = compare_samples("train/64", record.benchmarks[0].real_seconds(), record.benchmarks[1].real_seconds());
  EXPECT_EQ(direct.p_value, sides[0].change.p_value);
}

TEST(BenchSides, ThreeSamplesASideAreUncertainWithoutAnInterval) {
  const auto sides = compare_sides(with({timed("w/peer", 2e-3, 3), timed("w/mine", 1e-3, 3)}), "peer", "mine");
  ASSERT_EQ(sides.size(), 1u);
  EXPECT_EQ(sides[0].change.verdict, bench_verdict::uncertain);
  EXPECT_FALSE(sides[0].speedup.has_value());
}

TEST(BenchSides, UnpairedOrEmptyBenchmarksAreInputErrors) {
  const auto expect_error = [](const bench_record& record, const std::string& words) {
    try {
      compare_sides(record, "peer", "mine");
      ADD_FAILURE() << "no error; expected one naming " << words;
    } catch (const input_error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_error(with({timed("a/peer", 1e-3, 5)}), "a/peer has no partner a/mine");
  expect_error(with({timed("a/peer", 1e-3, 5), timed("a/mine", 1e-3, 5), timed("b/mine", 1e-3, 5)}),
               "b/mine has no partner b/peer");
  expect_error(with({timed("a/other", 1e-3, 5)}), "no benchmark is named .../peer");
  expect_error(with({timed("a/peer", 1e-3, 5), timed("a/mine", 1e-3, 0)}), "a/mine has no samples");
  EXPECT_THROW(compare_sides(with({timed("a/peer", 1e-3, 5)}), "peer", "peer"), input_error);
}

// Google Benchmark JSON as bench/pytorch/compare.py writes it: one entry per epoch.
json samples_document(const std::vector<std::pair<std::string, double>>& sides, int count) {
  json entries = json::array();
  for (const auto& [name, microseconds] : sides) {
    for (int i = 0; i < count; ++i) {
      const double time = microseconds * (1.0 + 0.002 * ((i * 7) % 11 - 5));
      entries.push_back({{"name", name}, {"run_name", name}, {"run_type", "iteration"}, {"repetitions", count},
                         {"repetition_index", i}, {"threads", 2}, {"iterations", 6300}, {"real_time", time},
                         {"cpu_time", 0.0}, {"time_unit", "us"}, {"items_per_second", 1e6 / time},
                         {"round", i / 2 + 1}, {"label", "2 threads, allocator keep-freed"}});
    }
  }
  return {{"context", {{"executable", "test"}}}, {"benchmarks", entries}};
}

fs::path write_json(const fs::path& path, const json& document) {
  std::ofstream(path) << document.dump();
  return path;
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (fs::is_directory(dir)) {
    for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  }
  return files;
}

TEST(BenchSides, VersusCommandRecordsEverySampleAndPrintsTheVerdicts) {
  temp_dir dir;
  const auto samples = write_json(dir.path() / "samples.json",
                                  samples_document({{"cpu_train/batch:64/pytorch_eager", 700.0},
                                                    {"cpu_train/batch:64/trackbench", 500.0}},
                                                   8));
  const auto out = dir.path() / "runs";
  const auto result = run_trackbench("-q versus '" + samples.string() + "' --new trackbench --base pytorch_eager "
                                     "--suite pytorch --out '" + out.string() + "' --json 2>/dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto verdicts = json::parse(result.output);
  ASSERT_EQ(verdicts["comparisons"].size(), 1u);
  const auto& c = verdicts["comparisons"][0];
  EXPECT_EQ(c["verdict"], "faster");
  EXPECT_EQ(c["benchmark"], "cpu_train/batch:64");
  EXPECT_NEAR(c["speedup"].get<double>(), 1.4, 0.01);
  EXPECT_LT(c["p_value"].get<double>(), 0.05);
  EXPECT_GT(c["speedup_low"].get<double>(), 1.0);

  const auto files = files_in(out);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].string(), verdicts["snapshot"].get<std::string>());
  const auto record = read_bench_snapshot(files[0]);
  ASSERT_EQ(record.benchmarks.size(), 2u);
  EXPECT_EQ(record.benchmarks[0].suite, "pytorch");
  EXPECT_EQ(record.benchmarks[0].label, "2 threads, allocator keep-freed");
  EXPECT_EQ(record.benchmarks[1].samples.size(), 8u);

  const auto text = run_trackbench("versus '" + samples.string() + "' --new trackbench --base pytorch_eager --out '" +
                                   out.string() + "'");
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("faster"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("allocator keep-freed"), std::string::npos) << text.output;
}

TEST(BenchSides, VersusCommandRefusesUnpairedSamplesAndWritesNothing) {
  temp_dir dir;
  const auto samples =
      write_json(dir.path() / "samples.json", samples_document({{"cpu_train/batch:64/pytorch_eager", 700.0}}, 4));
  const auto out = dir.path() / "runs";
  const auto result = run_trackbench("versus '" + samples.string() + "' --new trackbench --base pytorch_eager --out '" +
                                     out.string() + "'");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("cpu_train/batch:64/pytorch_eager has no partner"), std::string::npos) << result.output;
  EXPECT_TRUE(files_in(out).empty());
  const auto missing = run_trackbench("versus '" + (dir.path() / "none.json").string() + "' --new a --base b");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
}

}  // namespace
}  // namespace trackbench::tracking
