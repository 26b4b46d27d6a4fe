#pragma once
// Robust statistics for benchmark samples: the median, a spread that one outlier cannot
// inflate, and the two-sided Mann-Whitney U test, which assumes no distribution (timings are
// skewed and heavy-tailed, so a t-test's normality would not hold), and Welch's t-test, which
// the change-point detection of a history applies to segments of per-commit medians. Beside them,
// the tests of two distributions given as histograms, which the drift checks of an evaluation
// apply to data profiles.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace trackbench::tracking::statistics {

// Middle value, or the mean of the two middle values; throws std::invalid_argument when empty.
double median(std::vector<double> values);

// Median absolute deviation from the median, times 1.4826 (so it estimates the standard
// deviation of normal samples), divided by the median: 0.02 means a 2% spread. 0 for fewer
// than two values or a zero median.
double relative_spread(const std::vector<double>& values);

struct mann_whitney_result {
  double u = 0.0;        // U of the first sample: pairs (a, b) with a > b, ties counting 1/2
  double p_value = 1.0;  // two-sided
  bool exact = false;    // from the exact distribution of U, not the normal approximation
};

// Samples of at most this many values each, without ties, get the exact p-value.
inline constexpr std::size_t exact_test_max_size = 30;

// Two-sided Mann-Whitney U test of a against b. Exact when neither sample exceeds
// exact_test_max_size and no value occurs twice: the distribution of U is counted by dynamic
// programming and p = min(1, 2 min(P(U <= u), P(U >= u))). Otherwise the normal approximation
// with the tie correction of the variance and a continuity correction of 0.5. Throws
// std::invalid_argument when a sample is empty.
mann_whitney_result mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b);

struct ratio_interval {
  double estimate = 0.0;  // median of the m * n ratios a_i / b_j (Hodges-Lehmann, on the log scale)
  double low = 0.0;
  double high = 0.0;
  bool exact = false;  // bounds from the exact distribution of U, not the normal approximation
};

// The ratio of a's location to b's with the distribution-free confidence interval that inverts
// the Mann-Whitney U test (the ratios a_i / b_j sorted; the bounds are the k-th from either end,
// k from U's distribution at the two-sided level 1 - confidence): the interval leaves out 1
// exactly when the test at that level would tell the samples apart. Exact when neither sample
// exceeds exact_test_max_size, else the normal approximation with the continuity correction.
// Empty when the samples are too small for any interval at that confidence (3 against 3 at
// 0.95). Throws std::invalid_argument when a sample is empty, a value is not positive and
// finite, or confidence is not in (0, 1).
std::optional<ratio_interval> ratio_confidence_interval(const std::vector<double>& a, const std::vector<double>& b,
                                                         double confidence = 0.95);

struct welch_result {
  double t = 0.0;                   // (mean(a) - mean(b)) / its standard error
  double degrees_of_freedom = 0.0;  // Welch-Satterthwaite
  double p_value = 1.0;             // two-sided
};

// Welch's two-sided t-test of a against b (unequal variances): p from Student's t distribution
// with the Welch-Satterthwaite degrees of freedom. Two constant samples give p = 1 when their
// means are equal and p = 0 when not. Throws std::invalid_argument when a sample has fewer than
// two values.
welch_result welch_t_test(const std::vector<double>& a, const std::vector<double>& b);

// Benjamini-Hochberg q-values of m p-values, in their order: q_(i) = min over j >= i of
// m p_(j) / j for the p-values sorted ascending, at most 1. Calling the tests with q <= alpha
// discoveries keeps the expected share of false ones at most alpha (independent or positively
// dependent tests). Throws std::invalid_argument for a p-value outside [0, 1].
std::vector<double> benjamini_hochberg(const std::vector<double>& p_values);

// Counts of one histogram's bins, the same bins for both sides of a test.
using histogram = std::vector<std::uint64_t>;

struct kolmogorov_smirnov_result {
  double statistic = 0.0;  // D: the largest distance between the two empirical distribution functions
  double p_value = 1.0;    // two-sided, asymptotic
};

// The two-sample Kolmogorov-Smirnov test of the values counted in a against those in b. D is
// taken at the bins' upper edges, so values within one bin count as equal: D is at most the D of
// the values themselves. p = Q_KS(sqrt(m n / (m + n)) D), Kolmogorov's limiting distribution, good
// for the thousands of images a data set has. Throws std::invalid_argument when the histograms
// differ in size or either is empty of counts.
kolmogorov_smirnov_result kolmogorov_smirnov(const histogram& a, const histogram& b);

struct chi_square_result {
  double statistic = 0.0;
  int degrees_of_freedom = 0;  // bins counted on either side, minus one
  double p_value = 1.0;
  double cramers_v = 0.0;  // sqrt(statistic / total count): the effect's size, 0 to 1
};

// Pearson's chi-square test of homogeneity of the 2 x k table of a and b (no continuity
// correction); bins empty on both sides do not count. Throws std::invalid_argument when the
// histograms differ in size or either is empty of counts.
chi_square_result chi_square_homogeneity(const histogram& a, const histogram& b);

// The population stability index of b against a: the sum over bins of (q - p) ln(q / p) for the
// shares p of a and q of b, a share of 0 taken as `empty_share` (the usual convention, so one
// empty bin cannot make it infinite). 0 for equal shares; > 0.25 is the customary "shifted".
// Throws std::invalid_argument when the histograms differ in size or either is empty of counts.
double population_stability_index(const histogram& a, const histogram& b, double empty_share = 1e-4);

// P(X > x) for X chi-square distributed with `degrees_of_freedom` (> 0) degrees of freedom.
double chi_square_survival(double x, double degrees_of_freedom);

}  // namespace trackbench::tracking::statistics
