#include "trackbench/tracking/analysis/change_points.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "trackbench/tracking/analysis/statistics.h"

namespace trackbench::tracking {
namespace {

// Sums of |x_i - x_j| over rectangles of index pairs in O(1), from a 2-D prefix sum of the
// distance matrix of the series: O(n^2) once instead of per candidate split.
class distance_sums {
 public:
  explicit distance_sums(const std::vector<double>& x) : n_(x.size() + 1), prefix_(n_ * n_, 0.0) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      for (std::size_t j = 0; j < x.size(); ++j) {
        at(i + 1, j + 1) = std::fabs(x[i] - x[j]) + at(i, j + 1) + at(i + 1, j) - at(i, j);
      }
    }
  }
  // Sum over i in [a, b), j in [c, d).
  double sum(std::size_t a, std::size_t b, std::size_t c, std::size_t d) const {
    return at(b, d) - at(a, d) - at(b, c) + at(a, c);
  }

 private:
  double& at(std::size_t i, std::size_t j) { return prefix_[i * n_ + j]; }
  double at(std::size_t i, std::size_t j) const { return prefix_[i * n_ + j]; }
  std::size_t n_;
  std::vector<double> prefix_;
};

// Matteson and James's statistic for splitting [begin, end) at `split`, alpha = 1:
// m k / (m + k) * (2 E|X - Y| - E|X - X'| - E|Y - Y'|), the expectations as sample means.
double energy_statistic(const distance_sums& sums, std::size_t begin, std::size_t split, std::size_t end) {
  const auto m = static_cast<double>(split - begin);
  const auto k = static_cast<double>(end - split);
  const double between = sums.sum(begin, split, split, end) / (m * k);
  // The within sums count each unordered pair twice (the matrix is symmetric, its diagonal 0).
  const double within_left = sums.sum(begin, split, begin, split) / (m * (m - 1.0));
  const double within_right = sums.sum(split, end, split, end) / (k * (k - 1.0));
  return m * k / (m + k) * (2.0 * between - within_left - within_right);
}

void split_segment(const std::vector<double>& series, const distance_sums& sums, std::size_t begin, std::size_t end,
                   const change_point_options& options, std::vector<change_point>& found) {
  if (end - begin < 2 * options.min_segment) return;
  std::size_t best = 0;
  double best_statistic = 0.0;
  // The first of equal maxima, so the result does not depend on anything but the values.
  for (std::size_t split = begin + options.min_segment; split + options.min_segment <= end; ++split) {
    const double statistic = energy_statistic(sums, begin, split, end);
    if (statistic > best_statistic) {
      best_statistic = statistic;
      best = split;
    }
  }
  if (best == 0) return;  // every split scores 0: the segment is constant
  const std::vector<double> left(series.begin() + static_cast<std::ptrdiff_t>(begin),
                                 series.begin() + static_cast<std::ptrdiff_t>(best));
  const std::vector<double> right(series.begin() + static_cast<std::ptrdiff_t>(best),
                                  series.begin() + static_cast<std::ptrdiff_t>(end));
  // The split was chosen as the best of `candidates`, which makes its raw p too small (pure
  // noise of 40 points gave a split in 10% of series at 0.001); Bonferroni's factor corrects for
  // the choice (3% then, mostly three-point edge segments).
  const auto candidates = static_cast<double>(end - begin - 2 * options.min_segment + 1);
  const double p = std::min(1.0, statistics::welch_t_test(left, right).p_value * candidates);
  if (p > options.max_p_value) return;
  found.push_back({best, best_statistic, p});
  split_segment(series, sums, begin, best, options, found);
  split_segment(series, sums, best, end, options, found);
}

}  // namespace

std::vector<change_point> detect_change_points(const std::vector<double>& series, const change_point_options& options) {
  // Welch's test needs two values a side for a variance.
  if (options.min_segment < 2) throw std::invalid_argument("the minimum segment length must be at least 2");
  if (!(options.max_p_value > 0.0 && options.max_p_value < 1.0)) {
    throw std::invalid_argument("the p-value threshold must be in (0, 1)");
  }
  std::vector<change_point> found;
  if (series.size() < 2 * options.min_segment) return found;
  const distance_sums sums(series);
  split_segment(series, sums, 0, series.size(), options, found);
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
  return found;
}

}  // namespace trackbench::tracking
