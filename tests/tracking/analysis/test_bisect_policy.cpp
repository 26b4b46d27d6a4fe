// How bisect classifies a commit from its samples against the good commit's (bisect_policy.h).
#include <gtest/gtest.h>

#include <random>

#include "support/history_fixture.h"
#include "trackbench/tracking/analysis/bisect_policy.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::testing {
namespace {

using tracking::bisect_verdict;

tracking::bench_record record_of(const std::string& name, const std::vector<double>& times) {
  tracking::bench_record record;
  tracking::bench_result result{name, "fixture", name, "us", false, "", false, "", {}};
  for (const double t : times) result.samples.push_back({1, t, t, {}});
  record.benchmarks.push_back(result);
  return record;
}

TEST(BisectPolicy, SlowerIsBadSameIsGood) {
  std::mt19937_64 engine(7);
  const auto good = record_of("work", fixture_times(1e-3, 10, engine));
  const tracking::bisect_policy policy;
  const auto bad = tracking::judge_commit(good, record_of("work", fixture_times(1.03e-3, 10, engine)), policy, 2, 1.0);
  ASSERT_TRUE(bad.verdict);
  EXPECT_EQ(*bad.verdict, bisect_verdict::bad);
  ASSERT_EQ(bad.changes.size(), 1u);
  EXPECT_EQ(bad.changes[0].verdict, tracking::bench_verdict::slower);
  // 1% noise on 10 samples: the interval of no change lies within +-2.5%.
  tracking::bisect_policy wide;
  wide.threshold = 0.025;
  const auto same = tracking::judge_commit(good, record_of("work", fixture_times(1e-3, 10, engine)), wide, 2, 1.0);
  ASSERT_TRUE(same.verdict);
  EXPECT_EQ(*same.verdict, bisect_verdict::good);
  // Faster is good too: bisect looks for a slowdown.
  const auto faster = tracking::judge_commit(good, record_of("work", fixture_times(0.9e-3, 10, engine)), policy, 2, 1.0);
  ASSERT_TRUE(faster.verdict);
  EXPECT_EQ(*faster.verdict, bisect_verdict::good);
}

TEST(BisectPolicy, UncertainTakesMoreRoundsThenSkips) {
  std::mt19937_64 engine(8);
  const auto good = record_of("work", fixture_times(1e-3, 10, engine));
  tracking::bisect_policy policy;
  policy.max_rounds = 3;
  const auto too_few = record_of("work", fixture_times(1.03e-3, 2, engine));  // no interval from 2 samples
  const auto first = tracking::judge_commit(good, too_few, policy, 2, 1.0);
  EXPECT_FALSE(first.verdict);
  const auto last = tracking::judge_commit(good, too_few, policy, 3, 1.0);
  ASSERT_TRUE(last.verdict);
  EXPECT_EQ(*last.verdict, bisect_verdict::skip);
  EXPECT_NE(last.reason.find("uncertain after 3 rounds"), std::string::npos) << last.reason;
  // The time budget ends it as well: a third round would end after 10 s.
  policy.max_seconds = 10;
  const auto timed = tracking::judge_commit(good, too_few, policy, 2, 8.0);
  ASSERT_TRUE(timed.verdict);
  EXPECT_EQ(*timed.verdict, bisect_verdict::skip);
}

TEST(BisectPolicy, NoVerdictBeforeMinRounds) {
  std::mt19937_64 engine(9);
  const auto good = record_of("work", fixture_times(1e-3, 10, engine));
  const tracking::bisect_policy policy;
  EXPECT_FALSE(tracking::judge_commit(good, record_of("work", fixture_times(1.03e-3, 10, engine)), policy, 1, 1.0).verdict);
}

TEST(BisectPolicy, MissingBenchmarkIsSkippedAndBenchmarkMustSelectOne) {
  std::mt19937_64 engine(10);
  const auto good = record_of("work", fixture_times(1e-3, 10, engine));
  const auto other = tracking::judge_commit(good, record_of("renamed", fixture_times(1e-3, 10, engine)), {}, 2, 1.0);
  ASSERT_TRUE(other.verdict);
  EXPECT_EQ(*other.verdict, bisect_verdict::skip);
  EXPECT_NE(other.reason.find("work: not run"), std::string::npos) << other.reason;
  tracking::bisect_policy policy;
  policy.benchmark = "^steady";
  try {
    tracking::deciding_benchmarks(good, policy);
    ADD_FAILURE() << "no input_error";
  } catch (const input_error& e) {
    EXPECT_NE(std::string(e.what()).find("--benchmark '^steady'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("work"), std::string::npos) << e.what();
  }
  policy.benchmark = "(";
  EXPECT_THROW(tracking::check_policy(policy), input_error);
}

}  // namespace
}  // namespace trackbench::testing
