#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "trackbench/tracking/analysis/change_points.h"
#include "trackbench/tracking/analysis/statistics.h"

namespace trackbench::tracking {
namespace {

// `count` values around `level` with a seeded uniform noise of standard deviation `spread`
// (the engine's raw output is fixed by the standard; its distributions are not).
std::vector<double> noisy(std::size_t count, double level, double spread, std::mt19937_64& engine) {
  std::vector<double> values;
  for (std::size_t i = 0; i < count; ++i) {
    const double uniform = static_cast<double>(engine() >> 11) / 9007199254740992.0;  // [0, 1)
    values.push_back(level * (1.0 + spread * std::sqrt(12.0) * (uniform - 0.5)));
  }
  return values;
}

// Levels, each for its count of points, drawn in order from one engine.
std::vector<double> steps(const std::vector<std::pair<std::size_t, double>>& levels, double spread,
                          std::mt19937_64& engine) {
  std::vector<double> values;
  for (const auto& [count, level] : levels) {
    const auto part = noisy(count, level, spread, engine);
    values.insert(values.end(), part.begin(), part.end());
  }
  return values;
}

std::vector<std::size_t> indices(const std::vector<change_point>& points) {
  std::vector<std::size_t> out;
  for (const auto& point : points) out.push_back(point.index);
  return out;
}

TEST(ChangePoints, CleanStepIsFoundAtItsIndex) {
  std::mt19937_64 engine(1);
  const auto series = steps({{10, 1.0}, {8, 1.05}}, 0.01, engine);
  const auto found = detect_change_points(series);
  ASSERT_EQ(indices(found), std::vector<std::size_t>{10});
  EXPECT_LE(found[0].p_value, default_change_p_value);
  EXPECT_GT(found[0].statistic, 0.0);
}

TEST(ChangePoints, TwoStepsAreBothFound) {
  std::mt19937_64 engine(2);
  const auto series = steps({{12, 1.0}, {9, 1.1}, {10, 0.95}}, 0.01, engine);
  EXPECT_EQ(indices(detect_change_points(series)), (std::vector<std::size_t>{12, 21}));
}

TEST(ChangePoints, PureNoiseHasNone) {
  for (const std::uint64_t seed : {3, 4, 5, 6, 7}) {
    std::mt19937_64 engine(seed);
    EXPECT_TRUE(detect_change_points(noisy(60, 1.0, 0.02, engine)).empty()) << "seed " << seed;
  }
}

TEST(ChangePoints, SameSeriesGivesTheSameAnswer) {
  std::mt19937_64 engine(8);
  const auto series = steps({{20, 2.0}, {20, 2.2}}, 0.01, engine);
  const auto first = detect_change_points(series);
  const auto second = detect_change_points(series);
  ASSERT_EQ(first.size(), second.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].index, second[i].index);
    EXPECT_EQ(first[i].p_value, second[i].p_value);
  }
}

TEST(ChangePoints, ShortSeriesHaveNone) {
  EXPECT_TRUE(detect_change_points({}).empty());
  EXPECT_TRUE(detect_change_points({1.0}).empty());
  // Five points cannot hold two segments of three, however clear the step.
  EXPECT_TRUE(detect_change_points({1.0, 1.0, 1.0, 2.0, 2.0}).empty());
}

TEST(ChangePoints, ConstantSeriesHasNone) {
  EXPECT_TRUE(detect_change_points(std::vector<double>(30, 4.0)).empty());
}

TEST(ChangePoints, ConstantSidesOfAStepAreSplit) {
  // Zero variance on both sides and different means: certain.
  const auto found = detect_change_points({1, 1, 1, 1, 2, 2, 2, 2});
  ASSERT_EQ(indices(found), std::vector<std::size_t>{4});
  EXPECT_EQ(found[0].p_value, 0.0);
}

TEST(ChangePoints, MinimumSegmentIsRespected) {
  std::mt19937_64 engine(9);
  // A step two points before the end: shorter than the default segment of three.
  const auto late = steps({{15, 1.0}, {2, 1.5}}, 0.005, engine);
  EXPECT_TRUE(detect_change_points(late).empty());
  // Two points a side leave Welch's test one degree of freedom: only a lax threshold accepts it.
  const change_point_options two{0.05, 2};
  EXPECT_EQ(indices(detect_change_points(late, two)), std::vector<std::size_t>{15});

  // With a minimum of 6, a step after 4 points cannot be a split of its own.
  const auto early = steps({{4, 1.0}, {20, 1.5}}, 0.005, engine);
  const change_point_options six{default_change_p_value, 6};
  for (const auto& point : detect_change_points(early, six)) {
    EXPECT_GE(point.index, 6U);
    EXPECT_LE(point.index, early.size() - 6);
  }
}

TEST(ChangePoints, PValueThresholdDecides) {
  std::mt19937_64 engine(10);
  // A small step: visible at p <= 0.05, not at p <= 1e-12.
  const auto series = steps({{10, 1.0}, {10, 1.015}}, 0.01, engine);
  const auto found = detect_change_points(series, {0.05, 3});
  ASSERT_EQ(found.size(), 1U);
  EXPECT_GT(found[0].p_value, 1e-12);
  EXPECT_TRUE(detect_change_points(series, {1e-12, 3}).empty());
}

TEST(ChangePoints, BadOptionsAreRefused) {
  EXPECT_THROW(detect_change_points({1, 2, 3}, {0.001, 1}), std::invalid_argument);
  EXPECT_THROW(detect_change_points({1, 2, 3}, {0.0, 3}), std::invalid_argument);
  EXPECT_THROW(detect_change_points({1, 2, 3}, {1.0, 3}), std::invalid_argument);
}

}  // namespace
}  // namespace trackbench::tracking
