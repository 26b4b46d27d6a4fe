#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "trackbench/tracking/analysis/statistics.h"

namespace trackbench::tracking::statistics {
namespace {

TEST(Statistics, MedianOfOddAndEvenCounts) {
  EXPECT_DOUBLE_EQ(median({3.0, 1.0, 2.0}), 2.0);
  EXPECT_DOUBLE_EQ(median({4.0, 1.0, 3.0, 2.0}), 2.5);
  EXPECT_DOUBLE_EQ(median({7.0}), 7.0);
  EXPECT_THROW(median({}), std::invalid_argument);
}

TEST(Statistics, RelativeSpreadIgnoresOneOutlier) {
  // Median 3; absolute deviations {2, 1, 0, 1, 97} have median 1: 1.4826 * 1 / 3.
  EXPECT_NEAR(relative_spread({1.0, 2.0, 3.0, 4.0, 100.0}), 1.4826 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(relative_spread({5.0, 5.0, 5.0}), 0.0);
  EXPECT_DOUBLE_EQ(relative_spread({5.0}), 0.0);
}

TEST(Statistics, CompleteSeparationOfFiveAgainstFiveIsTwoIn252) {
  // Of the C(10, 5) = 252 equally likely orderings, one puts all of a below all of b, and one
  // the reverse: two-sided p = 2/252.
  const auto result = mann_whitney_u({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  EXPECT_TRUE(result.exact);
  EXPECT_DOUBLE_EQ(result.u, 0.0);
  EXPECT_NEAR(result.p_value, 2.0 / 252.0, 1e-15);
  const auto reversed = mann_whitney_u({6, 7, 8, 9, 10}, {1, 2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(reversed.u, 25.0);
  EXPECT_NEAR(reversed.p_value, 2.0 / 252.0, 1e-15);
}

TEST(Statistics, SmallSamplesCannotBeSignificant) {
  // 3 against 3: the most extreme ordering has probability 1/20, so p is at least 2/20.
  EXPECT_NEAR(mann_whitney_u({1, 2, 3}, {4, 5, 6}).p_value, 0.1, 1e-15);
  // 4 against 4: 2/70 = 0.0286, the smallest size at which p < 0.05 is possible.
  EXPECT_NEAR(mann_whitney_u({1, 2, 3, 4}, {5, 6, 7, 8}).p_value, 2.0 / 70.0, 1e-15);
}

TEST(Statistics, ExactDistributionInTheMiddle) {
  // 2 against 2: U takes 0, 1, 2, 3, 4 in 1, 1, 2, 1, 1 of the 6 orderings. a = {1, 3} against
  // b = {2, 4} has ranks 1 and 3, U = 4 - 3 = 1: P(U <= 1) = 2/6, so p = 2 * 2/6.
  const auto result = mann_whitney_u({1, 3}, {2, 4});
  EXPECT_DOUBLE_EQ(result.u, 1.0);
  EXPECT_NEAR(result.p_value, 4.0 / 6.0, 1e-15);
}

TEST(Statistics, SymmetricSamplesGiveOne) {
  // Rank sum of a is 1 + 4 + 5 + 8 = 18, U = 18 - 10 = 8 = 4 * 4 / 2, the centre.
  const auto result = mann_whitney_u({1, 4, 5, 8}, {2, 3, 6, 7});
  EXPECT_DOUBLE_EQ(result.u, 8.0);
  EXPECT_DOUBLE_EQ(result.p_value, 1.0);
  EXPECT_DOUBLE_EQ(mann_whitney_u({1, 4}, {2, 3}).p_value, 1.0);  // U = (1 + 4) - 3 = 2 = 2 * 2 / 2
}

TEST(Statistics, TiesUseTheNormalApproximationWithTieCorrection) {
  // a = {1, 2, 2, 3}, b = {2, 3, 3, 4}. Pooled and sorted: 1 | 2 2 2 | 3 3 3 | 4, ranks 1,
  // 3 (mean of 2..4), 6 (mean of 5..7), 8. a's ranks 1 + 3 + 3 + 6 = 13, U = 13 - 4 * 5 / 2 = 3,
  // mean 4 * 4 / 2 = 8. Two groups of three ties: sum of t^3 - t = 24 + 24 = 48. Variance
  // 4 * 4 / 12 * ((8 + 1) - 48 / (8 * 7)) = 10.857; with the continuity correction
  // z = (|3 - 8| - 0.5) / sqrt(10.857) = 1.3657, p = erfc(z / sqrt(2)) = 0.1720.
  const auto result = mann_whitney_u({1, 2, 2, 3}, {2, 3, 3, 4});
  EXPECT_FALSE(result.exact);
  EXPECT_DOUBLE_EQ(result.u, 3.0);
  const double variance = 4.0 * 4.0 / 12.0 * (9.0 - 48.0 / 56.0);
  EXPECT_NEAR(result.p_value, std::erfc(4.5 / std::sqrt(variance) / std::sqrt(2.0)), 1e-12);
  EXPECT_NEAR(result.p_value, 0.1720, 5e-4);
}

TEST(Statistics, AllEqualValuesCannotBeToldApart) {
  const auto result = mann_whitney_u({2, 2, 2, 2}, {2, 2, 2, 2, 2});
  EXPECT_DOUBLE_EQ(result.p_value, 1.0);
}

TEST(Statistics, LargeSamplesUseTheNormalApproximation) {
  std::vector<double> a, b;
  for (int i = 0; i < 40; ++i) {
    a.push_back(i);
    b.push_back(100 + i);
  }
  const auto result = mann_whitney_u(a, b);
  EXPECT_FALSE(result.exact);
  // z = (800 - 0.5) / sqrt(40 * 40 * 81 / 12) = 7.694: p = erfc(7.694 / sqrt 2).
  EXPECT_NEAR(result.p_value, std::erfc(799.5 / std::sqrt(1600.0 * 81.0 / 12.0) / std::sqrt(2.0)), 1e-20);
  EXPECT_LT(result.p_value, 1e-13);
  EXPECT_THROW(mann_whitney_u({}, {1.0}), std::invalid_argument);
}

// a_i = 1 + i/64 (i < 64, all below 2) against b_j = 2^j: every ratio differs and they sort by
// j (descending), then i, so the k-th smallest is known by counting.
std::pair<std::vector<double>, std::vector<double>> ordered_ratio_samples(int m, int n) {
  std::vector<double> a, b;
  for (int i = 0; i < m; ++i) a.push_back(1.0 + i / 64.0);
  for (int j = 0; j < n; ++j) b.push_back(std::ldexp(1.0, j));
  return {a, b};
}

// The ratio a_i / b_j at 0-based position `index` of the sorted ratios of ordered_ratio_samples.
double ordered_ratio(int m, int n, int index) {
  const int j = n - 1 - index / m;
  return std::ldexp(1.0 + (index % m) / 64.0, -j);
}

TEST(Statistics, RatioIntervalOfFourAgainstFourSpansEveryRatio) {
  // P(U = 0) = 1/70 <= 0.025 < P(U <= 1) = 2/70: k = 1, the smallest and the largest of the 16
  // ratios (coverage 68/70). Sorted: 0.5 0.67 1 1 1.33 1.5 2 2 | 2 2 2.67 3 4 4 6 8.
  const auto interval = ratio_confidence_interval({2, 4, 6, 8}, {1, 2, 3, 4});
  ASSERT_TRUE(interval.has_value());
  EXPECT_TRUE(interval->exact);
  EXPECT_DOUBLE_EQ(interval->low, 0.5);
  EXPECT_DOUBLE_EQ(interval->high, 8.0);
  EXPECT_DOUBLE_EQ(interval->estimate, 2.0);
}

TEST(Statistics, RatioIntervalOfFiveAgainstFiveLeavesOutTwoAtEachEnd) {
  // U's counts over the 252 orderings start 1, 1, 2, 3: P(U <= 2) = 4/252 <= 0.025 < 7/252, so
  // k = 3: the 3rd smallest and the 3rd largest of the 25 ratios; the estimate is the 13th.
  const auto [a, b] = ordered_ratio_samples(5, 5);
  const auto interval = ratio_confidence_interval(a, b);
  ASSERT_TRUE(interval.has_value());
  EXPECT_DOUBLE_EQ(interval->low, ordered_ratio(5, 5, 2));
  EXPECT_DOUBLE_EQ(interval->high, ordered_ratio(5, 5, 22));
  EXPECT_DOUBLE_EQ(interval->estimate, ordered_ratio(5, 5, 12));
}

TEST(Statistics, RatioIntervalOfLargeSamplesUsesTheNormalApproximation) {
  // 40 against 40: k = floor(800 - 1.96 * sqrt(1600 * 81 / 12) + 0.5) = floor(596.8) = 596.
  const auto [a, b] = ordered_ratio_samples(40, 40);
  const auto interval = ratio_confidence_interval(a, b);
  ASSERT_TRUE(interval.has_value());
  EXPECT_FALSE(interval->exact);
  EXPECT_DOUBLE_EQ(interval->low, ordered_ratio(40, 40, 595));
  EXPECT_DOUBLE_EQ(interval->high, ordered_ratio(40, 40, 1600 - 596));
}

TEST(Statistics, RatioIntervalLeavesOutOneExactlyWhenTheTestRejects) {
  // The interval inverts the test: for samples a and c * a' over a range of factors c, 1 lies
  // outside the 95% interval exactly when the two-sided p is at most 0.05.
  const std::vector<double> a{1.00, 1.13, 1.27, 1.41, 1.52, 1.68};
  const std::vector<double> base{1.05, 1.21, 1.33, 1.47, 1.59, 1.74, 1.81};
  int rejected = 0, kept = 0;
  for (double factor = 0.61; factor < 1.6; factor += 0.0173) {
    std::vector<double> b;
    for (const double value : base) b.push_back(value * factor);
    const auto test = mann_whitney_u(a, b);
    ASSERT_TRUE(test.exact);
    const auto interval = ratio_confidence_interval(a, b);
    ASSERT_TRUE(interval.has_value());
    const bool excludes_one = interval->low > 1.0 || interval->high < 1.0;
    EXPECT_EQ(excludes_one, test.p_value <= 0.05) << "factor " << factor << ", p " << test.p_value;
    ++(excludes_one ? rejected : kept);
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(kept, 0);
}

TEST(Statistics, RatioIntervalNeedsEnoughPositiveValues) {
  // 3 against 3: P(U = 0) = 1/20 > 0.025, no interval at 95%; at 80% the extremes.
  EXPECT_FALSE(ratio_confidence_interval({1, 2, 3}, {4, 5, 6}).has_value());
  EXPECT_TRUE(ratio_confidence_interval({1, 2, 3}, {4, 5, 6}, 0.80).has_value());
  EXPECT_THROW(ratio_confidence_interval({}, {1.0}), std::invalid_argument);
  EXPECT_THROW(ratio_confidence_interval({1, 2, 0}, {1.0}), std::invalid_argument);
  EXPECT_THROW(ratio_confidence_interval({1, 2, 3}, {1.0, NAN}), std::invalid_argument);
  EXPECT_THROW(ratio_confidence_interval({1, 2}, {1, 2}, 1.0), std::invalid_argument);
}

TEST(Statistics, WelchTestMatchesScipy) {
  // scipy.stats.ttest_ind(a, b, equal_var=False) gives these t, degrees of freedom and p.
  const auto equal_variances = welch_t_test({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  EXPECT_DOUBLE_EQ(equal_variances.t, -5.0);
  EXPECT_NEAR(equal_variances.degrees_of_freedom, 8.0, 1e-12);
  EXPECT_NEAR(equal_variances.p_value, 0.0010528257933665399, 1e-12);
  const auto unequal = welch_t_test({19.1, 20.3, 18.7, 21.0}, {22.5, 24.1, 23.0, 25.2, 21.9, 24.4});
  EXPECT_NEAR(unequal.t, -5.070356082277806, 1e-12);
  EXPECT_NEAR(unequal.degrees_of_freedom, 7.354912758864101, 1e-10);
  EXPECT_NEAR(unequal.p_value, 0.0012458977836712654, 1e-12);
  EXPECT_NEAR(welch_t_test({1, 2, 3}, {1.5, 2.5, 3.5, 2.0}).p_value, 0.6291595910817386, 1e-12);
}

TEST(Statistics, WelchTestOfConstantSamples) {
  EXPECT_EQ(welch_t_test({2, 2, 2}, {2, 2}).p_value, 1.0);
  EXPECT_EQ(welch_t_test({2, 2, 2}, {3, 3}).p_value, 0.0);
  EXPECT_THROW(welch_t_test({1}, {1, 2}), std::invalid_argument);
}

TEST(Statistics, BenjaminiHochbergByHand) {
  // m = 8, sorted p_(i) times 8 / i: 0.008, 0.032, 0.104, 0.082, 0.0672, 0.08, 0.0846..., 0.205;
  // each q the smallest of these from its rank up, so ranks 3 to 5 share 0.0672.
  const std::vector<double> p{0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205};
  const std::vector<double> expected{0.008, 0.032, 0.0672, 0.0672, 0.0672, 0.08, 0.074 * 8 / 7, 0.205};
  const auto q = benjamini_hochberg(p);
  ASSERT_EQ(q.size(), expected.size());
  for (std::size_t i = 0; i < q.size(); ++i) EXPECT_NEAR(q[i], expected[i], 1e-12) << i;
  // In the input's order, whatever it is.
  const auto shuffled = benjamini_hochberg({0.205, 0.001, 0.042});  // 3 * 0.001, 3 / 2 * 0.042, 0.205
  EXPECT_NEAR(shuffled[0], 0.205, 1e-12);
  EXPECT_NEAR(shuffled[1], 0.003, 1e-12);
  EXPECT_NEAR(shuffled[2], 0.063, 1e-12);
  EXPECT_NEAR(benjamini_hochberg({0.9, 0.95})[0], 0.95, 1e-12);  // capped by the larger p's q, at most 1
  EXPECT_TRUE(benjamini_hochberg({}).empty());
  EXPECT_THROW(benjamini_hochberg({0.5, 1.5}), std::invalid_argument);
}

// The reference values below are scipy 1.17's: stats.kstwobign.sf, stats.chi2.sf and
// stats.chi2_contingency(table, correction=False).
const histogram reference_counts{5, 12, 30, 41, 22, 9, 3, 0};
const histogram shifted_counts{2, 8, 19, 35, 30, 17, 8, 1};

TEST(Statistics, KolmogorovSmirnovOfHistogramsMatchesScipy) {
  const auto result = kolmogorov_smirnov(reference_counts, shifted_counts);
  EXPECT_NEAR(result.statistic, 0.18797814207650276, 1e-15);
  EXPECT_NEAR(result.p_value, 0.027814631388623105, 1e-12);
  EXPECT_EQ(kolmogorov_smirnov(reference_counts, reference_counts).statistic, 0.0);
  EXPECT_EQ(kolmogorov_smirnov(reference_counts, reference_counts).p_value, 1.0);
  // Scaling one side keeps its distribution.
  histogram doubled = reference_counts;
  for (auto& count : doubled) count *= 2;
  EXPECT_EQ(kolmogorov_smirnov(reference_counts, doubled).statistic, 0.0);
}

TEST(Statistics, KolmogorovSmirnovPValuesOnBothSidesOfTheSeriesSwitch) {
  // 200 values in the first bin against 200 - j there and j in the second: D = j / 200 and
  // lambda = sqrt(200 * 200 / 400) D = j / 20.
  const std::vector<std::pair<std::uint64_t, double>> j_and_survival{
      {10, 0.9639452436648751}, {18, 0.3927307079406543}, {20, 0.26999967167735456},
      {24, 0.11224966667072497}, {40, 0.0006709252557796953}, {60, 3.045995948942526e-08}};
  for (const auto& [j, survival] : j_and_survival) {
    const auto result = kolmogorov_smirnov({200, 0}, {200 - j, j});
    EXPECT_NEAR(result.statistic, static_cast<double>(j) / 200.0, 1e-15);
    EXPECT_NEAR(result.p_value, survival, 1e-12 + 1e-9 * survival) << "lambda " << static_cast<double>(j) / 20.0;
  }
  EXPECT_THROW(kolmogorov_smirnov({1, 2}, {1, 2, 3}), std::invalid_argument);
  EXPECT_THROW(kolmogorov_smirnov({0, 0}, {1, 2}), std::invalid_argument);
}

TEST(Statistics, ChiSquareHomogeneityMatchesScipy) {
  const auto result = chi_square_homogeneity(reference_counts, shifted_counts);
  EXPECT_NEAR(result.statistic, 11.978110411815887, 1e-12);
  EXPECT_EQ(result.degrees_of_freedom, 7);
  EXPECT_NEAR(result.p_value, 0.10128102134934948, 1e-12);
  // A bin empty on both sides is not a category: scipy's table without it.
  const auto without_empty = chi_square_homogeneity({5, 12, 0, 41, 22}, {2, 8, 0, 35, 30});
  EXPECT_NEAR(without_empty.statistic, 3.632657485058802, 1e-12);
  EXPECT_EQ(without_empty.degrees_of_freedom, 3);
  EXPECT_NEAR(without_empty.p_value, 0.3039600517079934, 1e-12);
  EXPECT_NEAR(without_empty.cramers_v, 0.15308984258795608, 1e-12);
  EXPECT_EQ(chi_square_homogeneity({7, 7}, {3, 3}).statistic, 0.0);
  EXPECT_THROW(chi_square_homogeneity({1}, {1, 2}), std::invalid_argument);
}

TEST(Statistics, ChiSquareSurvivalMatchesScipy) {
  // Each side of the series / continued-fraction switch at x / 2 = dof / 2 + 1, and the far tail.
  EXPECT_NEAR(chi_square_survival(3.0, 1), 0.08326451666355042, 1e-13);
  EXPECT_NEAR(chi_square_survival(0.5, 4), 0.9735009788392561, 1e-13);
  EXPECT_NEAR(chi_square_survival(9.0, 9), 0.43727418891386693, 1e-13);
  EXPECT_NEAR(chi_square_survival(30.0, 9), 0.00043872177097947936, 1e-15);
  EXPECT_NEAR(chi_square_survival(100.0, 9), 1.5735176303753876e-17, 1e-26);
  EXPECT_NEAR(chi_square_survival(400.0, 9), 1.3699125019662825e-80, 1e-89);
  EXPECT_THROW(chi_square_survival(1.0, 0), std::invalid_argument);
}

TEST(Statistics, PopulationStabilityIndexByHand) {
  // numpy: p, q = max(a / sum(a), 1e-4), max(b / sum(b), 1e-4); sum((q - p) * log(q / p)).
  EXPECT_NEAR(population_stability_index(reference_counts, shifted_counts), 0.22449199279193227, 1e-13);
  EXPECT_EQ(population_stability_index(reference_counts, reference_counts), 0.0);
  // Half the mass moved to an empty bin: (0.5 - 1) ln(0.5) + (0.5 - 1e-4) ln(0.5 / 1e-4).
  EXPECT_NEAR(population_stability_index({10, 0}, {5, 5}), -0.5 * std::log(0.5) + (0.5 - 1e-4) * std::log(0.5 / 1e-4),
              1e-12);
}

}  // namespace
}  // namespace trackbench::tracking::statistics
