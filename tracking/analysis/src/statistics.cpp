#include "trackbench/tracking/analysis/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

namespace trackbench::tracking::statistics {
namespace {

// counts[u] = how many of the C(m + n, m) orderings of m values against n give U = u: the
// coefficients of the Gaussian binomial [m + n choose m](q), built with
// N(i, j) = q^j N(i - 1, j) + N(i, j - 1) (the largest value belongs to the first sample, and
// then beats all j of the second, or to the second). Doubles: the counts reach C(60, 30) ~ 1.2e17,
// beyond 2^53, where only their last digits round, which a p-value never sees.
std::vector<double> u_distribution(std::size_t m, std::size_t n) {
  // row[j] holds N(i, j) for the current i, each a polynomial of degree i * j.
  std::vector<std::vector<double>> row(n + 1, std::vector<double>{1.0});  // N(0, j) = 1
  for (std::size_t i = 1; i <= m; ++i) {
    std::vector<std::vector<double>> next(n + 1);
    next[0] = {1.0};  // N(i, 0) = 1
    for (std::size_t j = 1; j <= n; ++j) {
      std::vector<double> counts(i * j + 1, 0.0);
      for (std::size_t u = 0; u < row[j].size(); ++u) counts[u + j] += row[j][u];
      for (std::size_t u = 0; u < next[j - 1].size(); ++u) counts[u] += next[j - 1][u];
      next[j] = std::move(counts);
    }
    row = std::move(next);
  }
  return row[n];
}

// z with P(|Z| > z) = alpha for a standard normal Z, by bisection on erfc.
double two_sided_normal_quantile(double alpha) {
  double low = 0.0, high = 40.0;
  for (int i = 0; i < 200; ++i) {
    const double middle = 0.5 * (low + high);
    (std::erfc(middle / std::sqrt(2.0)) > alpha ? low : high) = middle;
  }
  return 0.5 * (low + high);
}

// The continued fraction of the regularized incomplete beta function I_x(a, b), evaluated
// with the modified Lentz method; converges fast for x < (a + 1) / (a + b + 2).
double incomplete_beta_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300;
  const auto guarded = [](double value) { return std::fabs(value) < tiny ? tiny : value; };
  double c = 1.0;
  double d = 1.0 / guarded(1.0 - (a + b) * x / (a + 1.0));
  double result = d;
  for (int m = 1; m <= 500; ++m) {
    const double md = static_cast<double>(m);
    // The even and the odd step of the fraction's terms.
    const double even = md * (b - md) * x / ((a + 2.0 * md - 1.0) * (a + 2.0 * md));
    d = 1.0 / guarded(1.0 + even * d);
    c = guarded(1.0 + even / c);
    result *= d * c;
    const double odd = -(a + md) * (a + b + md) * x / ((a + 2.0 * md) * (a + 2.0 * md + 1.0));
    d = 1.0 / guarded(1.0 + odd * d);
    c = guarded(1.0 + odd / c);
    const double step = d * c;
    result *= step;
    if (std::fabs(step - 1.0) < 1e-15) break;
  }
  return result;
}

// I_x(a, b), using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly.
double regularized_incomplete_beta(double a, double b, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1.0) / (a + b + 2.0)) return std::exp(log_front) * incomplete_beta_fraction(a, b, x) / a;
  return 1.0 - std::exp(log_front) * incomplete_beta_fraction(b, a, 1.0 - x) / b;
}

// Q(a, x) = Gamma(a, x) / Gamma(a), the regularized upper incomplete gamma function: by its
// power series for x < a + 1, else by its continued fraction (modified Lentz), where each
// converges fast.
double regularized_upper_gamma(double a, double x) {
  if (x <= 0.0) return 1.0;
  const double log_front = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1.0) {
    double term = 1.0 / a, sum = term;
    for (int n = 1; n <= 1000 && std::fabs(term) > std::fabs(sum) * 1e-16; ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return std::max(0.0, 1.0 - std::exp(log_front) * sum);
  }
  constexpr double tiny = 1e-300;
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, fraction = d;
  for (int n = 1; n <= 1000; ++n) {
    const double an = -n * (n - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double step = d * c;
    fraction *= step;
    if (std::fabs(step - 1.0) < 1e-16) break;
  }
  return std::exp(log_front) * fraction;
}

// P(K > lambda) for Kolmogorov's distribution: the alternating series in exp(-2 j^2 lambda^2)
// converges fast for large lambda, the theta-function form of 1 - P(K > lambda) for small.
double kolmogorov_survival(double lambda) {
  constexpr double pi = 3.14159265358979323846;
  if (lambda <= 0.0) return 1.0;
  if (lambda < 1.0) {
    double sum = 0.0;
    for (int j = 1; j <= 20; ++j) {
      const double odd = 2.0 * j - 1.0;
      sum += std::exp(-odd * odd * pi * pi / (8.0 * lambda * lambda));
    }
    return std::clamp(1.0 - std::sqrt(2.0 * pi) / lambda * sum, 0.0, 1.0);
  }
  double sum = 0.0;
  for (int j = 1; j <= 100; ++j) sum += (j % 2 == 1 ? 1.0 : -1.0) * std::exp(-2.0 * j * j * lambda * lambda);
  return std::clamp(2.0 * sum, 0.0, 1.0);
}

// The totals of two histograms of one size, each holding counts.
std::pair<double, double> histogram_totals(const histogram& a, const histogram& b, const char* test) {
  if (a.size() != b.size()) throw std::invalid_argument(std::string(test) + " of histograms with different numbers of bins");
  double total_a = 0.0, total_b = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    total_a += static_cast<double>(a[i]);
    total_b += static_cast<double>(b[i]);
  }
  if (total_a == 0.0 || total_b == 0.0) throw std::invalid_argument(std::string(test) + " of a histogram without counts");
  return {total_a, total_b};
}

}  // namespace

double median(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("median of no values");
  const std::size_t middle = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle), values.end());
  const double upper = values[middle];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle));
  return 0.5 * (lower + upper);
}

double relative_spread(const std::vector<double>& values) {
  if (values.size() < 2) return 0.0;
  const double center = median(values);
  if (center == 0.0) return 0.0;
  std::vector<double> deviations;
  deviations.reserve(values.size());
  for (const double value : values) deviations.push_back(std::fabs(value - center));
  return 1.4826 * median(std::move(deviations)) / std::fabs(center);
}

mann_whitney_result mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) throw std::invalid_argument("Mann-Whitney U test of an empty sample");
  const std::size_t m = a.size();
  const std::size_t n = b.size();
  const std::size_t total = m + n;

  // Ranks 1..total, tied values sharing the mean of their ranks.
  std::vector<std::pair<double, bool>> pooled;  // value, from a
  pooled.reserve(total);
  for (const double value : a) pooled.emplace_back(value, true);
  for (const double value : b) pooled.emplace_back(value, false);
  std::sort(pooled.begin(), pooled.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  double rank_sum_a = 0.0;
  double tie_term = 0.0;  // sum over groups of tied values of t^3 - t
  for (std::size_t first = 0; first < total;) {
    std::size_t last = first;
    while (last + 1 < total && pooled[last + 1].first == pooled[first].first) ++last;
    const double rank = 0.5 * static_cast<double>(first + last) + 1.0;
    for (std::size_t i = first; i <= last; ++i) {
      if (pooled[i].second) rank_sum_a += rank;
    }
    const auto t = static_cast<double>(last - first + 1);
    tie_term += t * t * t - t;
    first = last + 1;
  }

  mann_whitney_result result;
  const auto md = static_cast<double>(m);
  const auto nd = static_cast<double>(n);
  result.u = rank_sum_a - md * (md + 1.0) / 2.0;

  if (tie_term == 0.0 && m <= exact_test_max_size && n <= exact_test_max_size) {
    const auto counts = u_distribution(m, n);
    const auto u = static_cast<std::size_t>(std::llround(result.u));
    double all = 0.0;
    double at_most = 0.0;
    for (std::size_t k = 0; k < counts.size(); ++k) {
      all += counts[k];
      if (k <= u) at_most += counts[k];
    }
    const double at_least = all - at_most + counts[u];
    result.p_value = std::min(1.0, 2.0 * std::min(at_most, at_least) / all);
    result.exact = true;
    return result;
  }

  const double totald = static_cast<double>(total);
  const double variance = md * nd / 12.0 * ((totald + 1.0) - tie_term / (totald * (totald - 1.0)));
  if (variance <= 0.0) return result;  // every value equal: nothing tells the samples apart
  const double distance = std::max(0.0, std::fabs(result.u - md * nd / 2.0) - 0.5);
  result.p_value = std::min(1.0, std::erfc(distance / std::sqrt(2.0 * variance)));
  return result;
}

std::optional<ratio_interval> ratio_confidence_interval(const std::vector<double>& a, const std::vector<double>& b,
                                                         double confidence) {
  if (a.empty() || b.empty()) throw std::invalid_argument("ratio interval of an empty sample");
  if (!(confidence > 0.0 && confidence < 1.0)) throw std::invalid_argument("confidence must be in (0, 1)");
  const auto positive = [](double value) { return std::isfinite(value) && value > 0.0; };
  if (!std::all_of(a.begin(), a.end(), positive) || !std::all_of(b.begin(), b.end(), positive)) {
    throw std::invalid_argument("ratio interval of a value that is not positive and finite");
  }
  const std::size_t m = a.size();
  const std::size_t n = b.size();
  const double alpha = 1.0 - confidence;

  // k: how many of the smallest (and of the largest) ratios the interval leaves out, the most
  // with P(U <= k - 1) <= alpha / 2.
  ratio_interval result;
  std::size_t k = 0;
  if (m <= exact_test_max_size && n <= exact_test_max_size) {
    const auto counts = u_distribution(m, n);
    double all = 0.0;
    for (const double count : counts) all += count;
    double at_most = 0.0;
    while (k < counts.size() && (at_most + counts[k]) / all <= alpha / 2.0) at_most += counts[k++];
    result.exact = true;
  } else {
    const double md = static_cast<double>(m), nd = static_cast<double>(n);
    const double bound = md * nd / 2.0 - two_sided_normal_quantile(alpha) * std::sqrt(md * nd * (md + nd + 1.0) / 12.0) + 0.5;
    k = bound < 1.0 ? 0 : static_cast<std::size_t>(std::floor(bound));
  }
  if (k == 0) return std::nullopt;

  std::vector<double> ratios;
  ratios.reserve(m * n);
  for (const double x : a) {
    for (const double y : b) ratios.push_back(x / y);
  }
  std::sort(ratios.begin(), ratios.end());
  result.estimate = median(ratios);
  result.low = ratios[k - 1];
  result.high = ratios[ratios.size() - k];
  return result;
}

welch_result welch_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() < 2 || b.size() < 2) throw std::invalid_argument("Welch t-test of a sample with fewer than two values");
  const auto mean_and_variance = [](const std::vector<double>& values) {
    double mean = 0.0;
    for (const double value : values) mean += value;
    mean /= static_cast<double>(values.size());
    double squares = 0.0;
    for (const double value : values) squares += (value - mean) * (value - mean);
    return std::make_pair(mean, squares / static_cast<double>(values.size() - 1));
  };
  const auto [mean_a, variance_a] = mean_and_variance(a);
  const auto [mean_b, variance_b] = mean_and_variance(b);
  const double share_a = variance_a / static_cast<double>(a.size());
  const double share_b = variance_b / static_cast<double>(b.size());
  const double squared_error = share_a + share_b;
  welch_result result;
  if (squared_error == 0.0) {
    // Both constant: the means either are the same or differ with certainty.
    result.p_value = mean_a == mean_b ? 1.0 : 0.0;
    result.t = mean_a == mean_b ? 0.0 : std::copysign(std::numeric_limits<double>::infinity(), mean_a - mean_b);
    return result;
  }
  result.t = (mean_a - mean_b) / std::sqrt(squared_error);
  result.degrees_of_freedom =
      squared_error * squared_error /
      (share_a * share_a / static_cast<double>(a.size() - 1) + share_b * share_b / static_cast<double>(b.size() - 1));
  const double nu = result.degrees_of_freedom;
  // P(|T| > |t|) for Student's t with nu degrees of freedom is I_{nu / (nu + t^2)}(nu / 2, 1 / 2).
  result.p_value = regularized_incomplete_beta(nu / 2.0, 0.5, nu / (nu + result.t * result.t));
  return result;
}

std::vector<double> benjamini_hochberg(const std::vector<double>& p_values) {
  const std::size_t m = p_values.size();
  std::vector<std::size_t> order(m);
  for (std::size_t i = 0; i < m; ++i) {
    if (!(p_values[i] >= 0.0 && p_values[i] <= 1.0)) throw std::invalid_argument("a p-value outside [0, 1]");
    order[i] = i;
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return p_values[x] < p_values[y]; });
  std::vector<double> q(m);
  double smallest = 1.0;  // the running minimum from the largest p down
  for (std::size_t rank = m; rank >= 1; --rank) {
    const std::size_t i = order[rank - 1];
    smallest = std::min(smallest, p_values[i] * static_cast<double>(m) / static_cast<double>(rank));
    q[i] = smallest;
  }
  return q;
}

kolmogorov_smirnov_result kolmogorov_smirnov(const histogram& a, const histogram& b) {
  const auto [m, n] = histogram_totals(a, b, "Kolmogorov-Smirnov test");
  kolmogorov_smirnov_result result;
  double cumulative_a = 0.0, cumulative_b = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    cumulative_a += static_cast<double>(a[i]);
    cumulative_b += static_cast<double>(b[i]);
    result.statistic = std::max(result.statistic, std::fabs(cumulative_a / m - cumulative_b / n));
  }
  result.p_value = kolmogorov_survival(std::sqrt(m * n / (m + n)) * result.statistic);
  return result;
}

chi_square_result chi_square_homogeneity(const histogram& a, const histogram& b) {
  const auto [total_a, total_b] = histogram_totals(a, b, "chi-square test");
  const double total = total_a + total_b;
  chi_square_result result;
  int bins = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double in_bin = static_cast<double>(a[i]) + static_cast<double>(b[i]);
    if (in_bin == 0.0) continue;
    ++bins;
    const double expected_a = in_bin * total_a / total, expected_b = in_bin * total_b / total;
    result.statistic += (static_cast<double>(a[i]) - expected_a) * (static_cast<double>(a[i]) - expected_a) / expected_a +
                        (static_cast<double>(b[i]) - expected_b) * (static_cast<double>(b[i]) - expected_b) / expected_b;
  }
  result.degrees_of_freedom = bins - 1;
  result.p_value = result.degrees_of_freedom > 0 ? chi_square_survival(result.statistic, result.degrees_of_freedom) : 1.0;
  result.cramers_v = std::sqrt(result.statistic / total);
  return result;
}

double population_stability_index(const histogram& a, const histogram& b, double empty_share) {
  const auto [total_a, total_b] = histogram_totals(a, b, "population stability index");
  double index = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == 0 && b[i] == 0) continue;
    const double p = std::max(static_cast<double>(a[i]) / total_a, empty_share);
    const double q = std::max(static_cast<double>(b[i]) / total_b, empty_share);
    index += (q - p) * std::log(q / p);
  }
  return index;
}

double chi_square_survival(double x, double degrees_of_freedom) {
  if (!(degrees_of_freedom > 0.0)) throw std::invalid_argument("chi-square distribution without degrees of freedom");
  return regularized_upper_gamma(degrees_of_freedom / 2.0, x / 2.0);
}

}  // namespace trackbench::tracking::statistics
