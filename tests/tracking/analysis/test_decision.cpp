// The one decision rule (decision.h): the 95% interval of the shift against the threshold, the
// threshold from the samples' noise, and the correction of a suite's p-values.
#include <gtest/gtest.h>

#include <vector>

#include "trackbench/tracking/analysis/decision.h"

namespace trackbench::tracking {
namespace {

// Ten times around 1 ms, +-0.5% in a fixed pattern (relative spread about 0.4%).
const std::vector<double> quiet{1.000e-3, 1.004e-3, 0.996e-3, 1.002e-3, 0.998e-3,
                                1.005e-3, 0.995e-3, 1.001e-3, 0.999e-3, 1.003e-3};

std::vector<double> scaled(const std::vector<double>& values, double factor) {
  std::vector<double> out;
  for (const double value : values) out.push_back(value * factor);
  return out;
}

decision_options threshold(double fraction) { return {fraction, min_threshold}; }

TEST(Decision, SlowerOrFasterOnlyWhenTheWholeIntervalIsBeyondTheThreshold) {
  const auto slower = decide(quiet, scaled(quiet, 1.10), threshold(0.02));
  EXPECT_EQ(slower.verdict, bench_verdict::slower) << slower.reason;
  ASSERT_TRUE(slower.shift.has_value());
  EXPECT_NEAR(slower.shift->estimate, 1.10, 1e-9);  // the median of the ratios
  EXPECT_GT(slower.shift->low, 1.02);
  EXPECT_TRUE(slower.shift->exact);
  EXPECT_DOUBLE_EQ(slower.threshold, 0.02);
  EXPECT_TRUE(slower.reason.empty());

  const auto faster = decide(quiet, scaled(quiet, 0.90), threshold(0.02));
  EXPECT_EQ(faster.verdict, bench_verdict::faster) << faster.reason;
  EXPECT_LT(faster.shift->high, 0.98);
}

TEST(Decision, SameOnlyWhenTheWholeIntervalIsInsideTheThreshold) {
  const std::vector<double> reordered{quiet.rbegin(), quiet.rend()};
  const auto same = decide(quiet, reordered, threshold(0.02));
  EXPECT_EQ(same.verdict, bench_verdict::same) << same.reason;
  EXPECT_GE(same.shift->low, 0.98);
  EXPECT_LE(same.shift->high, 1.02);
  // A significant but tiny shift is the same within 2%: an equivalence, not a p-value.
  const auto tiny = decide(quiet, scaled(quiet, 1.006), threshold(0.02));
  EXPECT_EQ(tiny.verdict, bench_verdict::same) << tiny.reason;
}

TEST(Decision, AnIntervalAcrossTheThresholdIsUncertain) {
  // The interval of a 3% shift reaches below and above +3%.
  const auto straddling = decide(quiet, scaled(quiet, 1.03), threshold(0.03));
  EXPECT_EQ(straddling.verdict, bench_verdict::uncertain);
  EXPECT_LT(straddling.shift->low, 1.03);
  EXPECT_GT(straddling.shift->high, 1.03);
  EXPECT_NE(straddling.reason.find("straddles the threshold +-3.0%"), std::string::npos) << straddling.reason;
  // Noise of 10% against a 1% threshold: the interval covers the whole band and more.
  const std::vector<double> noisy{1.0, 1.2, 0.85, 1.1, 0.9, 1.15, 0.8, 1.05, 0.95, 1.25};
  const auto wide = decide(noisy, noisy, threshold(0.01));
  EXPECT_EQ(wide.verdict, bench_verdict::uncertain);
  EXPECT_NE(wide.reason.find("is wider than the threshold +-1.0%"), std::string::npos) << wide.reason;
}

TEST(Decision, ThreeSamplesASideAreTooFew) {
  const auto three = decide({1.0, 1.01, 0.99}, {2.0, 2.01, 1.99}, threshold(0.01));
  EXPECT_EQ(three.verdict, bench_verdict::uncertain);
  EXPECT_FALSE(three.shift.has_value());
  EXPECT_NE(three.reason.find("too few samples: 3 on a side"), std::string::npos) << three.reason;
  ASSERT_TRUE(three.p_value.has_value());  // tested all the same, for the suite's correction
  const auto zero = decide({0.0, 1.0, 1.0, 1.0}, {1.0, 1.0, 1.0, 1.0});
  EXPECT_EQ(zero.verdict, bench_verdict::uncertain);
  EXPECT_NE(zero.reason.find("not positive"), std::string::npos) << zero.reason;
}

TEST(Decision, TheDefaultThresholdIsTheNoiseWithAFloorOfOnePercent) {
  // The quiet samples spread by well under 1%: the floor.
  EXPECT_DOUBLE_EQ(decision_threshold(quiet, quiet, {}), 0.01);
  EXPECT_DOUBLE_EQ(decide(quiet, quiet).threshold, 0.01);
  // Samples spreading by about 3%: their spread (the larger side's).
  const std::vector<double> three_percent{1.00, 1.03, 0.97, 1.02, 0.98, 1.04, 0.96, 1.01, 0.99, 1.05};
  EXPECT_NEAR(decision_threshold(quiet, three_percent, {}), statistics::relative_spread(three_percent), 1e-12);
  EXPECT_GT(decision_threshold(quiet, three_percent, {}), 0.02);
  // Never above 10%, so very noisy samples cannot come out "same" within a wide band.
  const std::vector<double> noisy{1.0, 1.5, 0.7, 1.2, 0.8, 1.4, 0.6, 1.1, 0.9, 1.3};
  EXPECT_DOUBLE_EQ(decision_threshold(noisy, noisy, {}), max_noise_threshold);
  // Two separate runs use their own floor; --threshold overrides either.
  EXPECT_DOUBLE_EQ(decision_threshold(quiet, quiet, {std::nullopt, separate_runs_min_threshold}), 0.05);
  EXPECT_DOUBLE_EQ(decision_threshold(noisy, noisy, threshold(0.002)), 0.002);
}

TEST(Decision, TheSuiteCorrectionKeepsOnlyChangesWithASmallQValue) {
  decision changed;
  changed.verdict = bench_verdict::slower;
  changed.p_value = 0.03;
  decision steady;
  steady.verdict = bench_verdict::same;
  steady.p_value = 0.6;
  decision untested;  // added or removed: no p-value, not counted
  untested.verdict = bench_verdict::added;
  correct_for_suite({&changed, &steady, &untested});
  // Two tests: q = 2 * 0.03 = 0.06 for the smaller p, above 0.05.
  ASSERT_TRUE(changed.q_value.has_value());
  EXPECT_NEAR(*changed.q_value, 0.06, 1e-12);
  EXPECT_EQ(changed.verdict, bench_verdict::uncertain);
  EXPECT_NE(changed.reason.find("looked slower, but q = 0.06 after Benjamini-Hochberg over 2 benchmarks"),
            std::string::npos)
      << changed.reason;
  EXPECT_NEAR(*steady.q_value, 0.6, 1e-12);
  EXPECT_EQ(steady.verdict, bench_verdict::same);
  EXPECT_FALSE(untested.q_value.has_value());

  decision alone;
  alone.verdict = bench_verdict::faster;
  alone.p_value = 0.03;
  correct_for_suite({&alone});  // one test: q = p
  EXPECT_EQ(alone.verdict, bench_verdict::faster);
  EXPECT_NEAR(*alone.q_value, 0.03, 1e-12);
}

}  // namespace
}  // namespace trackbench::tracking
