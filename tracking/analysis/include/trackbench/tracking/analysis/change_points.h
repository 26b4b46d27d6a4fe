#pragma once
// Change points of a series (a benchmark's median per commit, a run metric per commit): E-divisive
// means (Matteson and James 2014, as MongoDB's Hunter uses it, Daly et al. 2020) with a t-test
// deciding each split. Fully deterministic: the significance comes from Welch's t-test of the two
// segments, not from random permutations, so one history always gives the same change points.
#include <cstddef>
#include <vector>

namespace trackbench::tracking {

inline constexpr double default_change_p_value = 0.001;
inline constexpr std::size_t default_min_segment = 3;

struct change_point_options {
  double max_p_value = default_change_p_value;  // a split is kept when Welch's p is at most this
  std::size_t min_segment = default_min_segment;  // points on either side of a split, at least 2
};

struct change_point {
  std::size_t index = 0;  // the first point of the new segment
  double statistic = 0.0;  // the energy-distance statistic of the split within its segment
  double p_value = 1.0;    // Welch's t-test of the segment's two sides, times the candidate splits
};

// Binary segmentation: the segment [0, n) is split at the point that maximises the energy
// statistic (alpha = 1) of its two sides, each at least `min_segment` long; the split is kept when
// Welch's t-test of the sides, Bonferroni-corrected for the number of splits the segment allowed,
// gives p <= max_p_value, and then both sides are split in turn.
// Returns the change points by index. Throws std::invalid_argument for a min_segment below 2 or a
// max_p_value outside (0, 1).
std::vector<change_point> detect_change_points(const std::vector<double>& series,
                                               const change_point_options& options = {});

}  // namespace trackbench::tracking
