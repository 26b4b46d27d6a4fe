#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "support/history_fixture.h"
#include "support/sample_records.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/analysis/history.h"
#include "trackbench/tracking/recording/recorder.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

// Bench inputs of `commits` (named c01, c02, ...), the work 3% larger from `step` (1-based) on.
std::vector<history_input> bench_inputs(int commits, int step, const std::string& cpu_model = "") {
  std::mt19937_64 engine(7);
  std::vector<history_input> inputs;
  for (int i = 1; i <= commits; ++i) {
    const std::string commit = (i < 10 ? "c0" : "c") + std::to_string(i);
    inputs.push_back({"b" + std::to_string(i) + ".h5", std::nullopt,
                      testing::fixture_record(commit + std::string(8, 'a'), i, i >= step ? 1.03 : 1.0, cpu_model, engine),
                      ""});
  }
  return inputs;
}

const history_series& named(const history_report& report, const std::string& group, const std::string& name) {
  for (const auto& series : report.series) {
    if (series.group == group && series.name == name) return series;
  }
  throw std::runtime_error("no series " + group + " " + name);
}

TEST(History, StepIsFoundAtItsCommitWithItsInterval) {
  const auto inputs = bench_inputs(12, 8);
  const auto report = build_history(inputs, {});
  ASSERT_EQ(report.groups.size(), 1U);
  ASSERT_EQ(report.series.size(), 2U);
  const auto& work = named(report, "group 1", "fixture/work");
  EXPECT_EQ(work.points.size(), 12U);
  EXPECT_EQ(work.order, history_order::start_time);  // no ancestry given
  ASSERT_EQ(work.changes.size(), 1U);
  const auto& change = work.changes[0];
  EXPECT_EQ(change.index, 7U);
  EXPECT_EQ(change.commit, "c08" + std::string(8, 'a'));
  EXPECT_TRUE(change.slower);
  EXPECT_NEAR(change.change, 0.03, 0.01);
  ASSERT_TRUE(change.interval.has_value());
  EXPECT_GT(change.interval->low, 1.01);
  EXPECT_LT(change.interval->high, 1.05);
  EXPECT_LT(change.interval->low, change.interval->high);
  EXPECT_FALSE(work.newest_is_slower);  // found already before the newest point
  EXPECT_TRUE(named(report, "group 1", "fixture/steady").changes.empty());
}

TEST(History, NewestPointStartsASlowerSegment) {
  // The step at commit 10 of 12: the newest point (12) is the third after it, the first time the
  // minimum segment of three allows it to be seen.
  const auto report = build_history(bench_inputs(12, 10), {});
  const auto& work = named(report, "group 1", "fixture/work");
  ASSERT_EQ(work.changes.size(), 1U);
  EXPECT_EQ(work.changes[0].index, 9U);
  EXPECT_TRUE(work.newest_is_slower);
}

TEST(History, NewestPointTooSoonAfterAStepIsUncertain) {
  // The step at commit 11 of 12: two points after it, one short of the minimum segment, so no
  // change point can show yet; the newest point lies beyond all ten settled points before them.
  const auto report = build_history(bench_inputs(12, 11), {});
  const auto& work = named(report, "group 1", "fixture/work");
  EXPECT_TRUE(work.changes.empty());
  EXPECT_FALSE(work.newest_is_slower);
  EXPECT_NE(work.newest_uncertain.find("worse than all 10 settled points"), std::string::npos) << work.newest_uncertain;
  EXPECT_NE(work.newest_uncertain.find("up to 2 more point(s)"), std::string::npos) << work.newest_uncertain;
  // The steady benchmark beside it is decided.
  EXPECT_EQ(named(report, "group 1", "fixture/steady").newest_uncertain, "");
}

TEST(History, DecidedNewestPointsAreNotUncertain) {
  for (const int step : {8, 10, 100}) {  // an old step, a step the newest point completes, none
    const auto report = build_history(bench_inputs(12, step), {});
    for (const auto& series : report.series) EXPECT_EQ(series.newest_uncertain, "") << "step " << step << " " << series.name;
  }
  // A step as the newest point is judged too, with 2 points the least a change needs after it.
  EXPECT_NE(named(build_history(bench_inputs(12, 12), {}), "group 1", "fixture/work").newest_uncertain, "");
}

TEST(History, TooFewPointsToJudgeTheNewestAreUncertain) {
  const auto report = build_history(bench_inputs(4, 100), {});
  const auto& work = named(report, "group 1", "fixture/work");
  EXPECT_NE(work.newest_uncertain.find("too few points: 2 settled in the newest segment, 3 needed"), std::string::npos)
      << work.newest_uncertain;
  EXPECT_EQ(named(build_history(bench_inputs(5, 100), {}), "group 1", "fixture/work").newest_uncertain, "");
}

TEST(History, HardwareGroupsAreNeverMixed) {
  auto inputs = bench_inputs(12, 100);
  for (auto& input : bench_inputs(12, 100, "Other CPU")) {
    for (auto& result : input.bench->benchmarks) {
      for (auto& sample : result.samples) sample.real_seconds *= 2.0;
    }
    inputs.push_back(std::move(input));
  }
  const auto report = build_history(inputs, {});
  ASSERT_EQ(report.groups.size(), 2U);
  EXPECT_EQ(report.groups[1].fingerprint[0], "cpu_model: Other CPU");
  ASSERT_EQ(report.series.size(), 4U);
  for (const auto& series : report.series) {
    EXPECT_EQ(series.points.size(), 12U) << series.group << " " << series.name;
    EXPECT_TRUE(series.changes.empty()) << series.group << " " << series.name;
  }
}

TEST(History, AncestryOrdersThePoints) {
  auto inputs = bench_inputs(12, 8);
  history_options options;
  // The commits' ancestry, oldest first; the start times are reversed, so only the ancestry can
  // put the step at commit 8.
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    options.ancestry.push_back(inputs[i].bench->code["commit"].get<std::string>());
    inputs[i].bench->identity["start_time"] = "2026-12-01T11:" + std::to_string(50 - i) + ":00.000Z";
  }
  const auto report = build_history(inputs, options);
  const auto& work = named(report, "group 1", "fixture/work");
  EXPECT_EQ(work.order, history_order::ancestry);
  ASSERT_EQ(work.changes.size(), 1U);
  EXPECT_EQ(work.changes[0].commit, options.ancestry[7]);
}

TEST(History, GitAncestryOfAThrowAwayRepository) {
  testing::temp_dir dir;
  const auto fixture = testing::make_history_fixture(dir.path(), 8, false);
  // Asked in another order, with a commit the checkout does not know and text that is no commit.
  std::vector<std::string> asked{fixture.commits[5], fixture.commits[0], std::string(40, 'f'), "HEAD; rm -rf /",
                                 fixture.commits[11]};
  EXPECT_EQ(git_ancestry(fixture.repo.string(), asked), fixture.commits);
  EXPECT_TRUE(git_ancestry(dir.path().string(), asked).empty());  // not a checkout
}

TEST(History, FiltersAndMetrics) {
  auto inputs = bench_inputs(6, 100);
  auto run = testing::sample_run_record();
  run.epochs = {testing::make_metrics(1), testing::make_metrics(2)};
  inputs.push_back({"run.h5", run, std::nullopt, ""});
  history_options only_work;
  only_work.benchmark_pattern = "work$";
  const auto works = build_history(inputs, only_work);
  ASSERT_EQ(works.series.size(), 1U);
  EXPECT_EQ(works.series[0].name, "fixture/work");

  history_options throughput;
  throughput.metric = "images_per_second";
  const auto runs = build_history(inputs, throughput);
  ASSERT_EQ(runs.series.size(), 1U);
  EXPECT_EQ(runs.series[0].name, "run images_per_second (mnist-sample, cudnn, cpu, 64, fp32)");
  EXPECT_EQ(runs.series[0].unit, "images/s");
  EXPECT_FALSE(runs.series[0].lower_is_better);
  EXPECT_DOUBLE_EQ(runs.series[0].points[0].value, 600.0);

  history_options accuracy;
  accuracy.metric = "test_acc";  // an alias
  EXPECT_EQ(build_history(inputs, accuracy).series.at(0).unit, "%");

  history_options unknown;
  unknown.metric = "train_loss";
  EXPECT_THROW(build_history(inputs, unknown), input_error);
  history_options bad_pattern;
  bad_pattern.benchmark_pattern = "(";
  EXPECT_THROW(build_history(inputs, bad_pattern), input_error);
}

TEST(History, UnreadableFilesKeepTheirError) {
  testing::temp_dir dir;
  testing::write_file(dir / "not-a-snapshot.h5", {'n', 'o', 't'});
  write_bench_snapshot(dir / "good.h5", testing::sample_bench_record({1e-3, 1.1e-3}));
  const auto inputs = read_snapshot_records(history_files({dir.path().string()}));
  ASSERT_EQ(inputs.size(), 2U);
  EXPECT_TRUE(inputs[0].bench.has_value());
  EXPECT_NE(inputs[1].error.find("not-a-snapshot.h5"), std::string::npos) << inputs[1].error;
  EXPECT_THROW(history_files({(dir / "missing").string()}), input_error);
}

}  // namespace
}  // namespace trackbench::tracking
