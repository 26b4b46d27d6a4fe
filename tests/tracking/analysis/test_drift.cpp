#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/drift.h"

namespace trackbench::tracking {
namespace {

// MNIST's shapes, spelled out: this test binary builds without LibTorch, so without datasets.h.
constexpr int classes = 10;
constexpr int pixels_per_image = 28 * 28;

// A profile of `images` images, each with `ink` units of ink on a mean image of constant
// `brightness`, `dark_share` of the pixels black and the rest at byte value 255 (or 128).
trainer::data_profile profile(std::uint64_t images, int ink, double brightness, double dark_share, bool grey = false) {
  trainer::data_profile result;
  result.split = "test";
  result.images = images;
  result.class_counts.assign(classes, images / classes);
  result.mean_image.assign(pixels_per_image, brightness);
  result.intensity_histogram.assign(trainer::intensity_histogram_bins, 0);
  const auto pixels = images * static_cast<std::uint64_t>(pixels_per_image);
  const auto dark = static_cast<std::uint64_t>(dark_share * static_cast<double>(pixels));
  result.intensity_histogram[0] = dark;
  result.intensity_histogram[grey ? 128 : 255] = pixels - dark;
  result.ink_histogram.assign(trainer::ink_histogram_bins, 0);
  result.ink_histogram[ink] = images;
  result.ink_mean = ink;
  return result;
}

// Balanced predictions over the ten classes, with `moved` of them taken from class 0 to class 1.
statistics::histogram predictions(std::uint64_t images, std::uint64_t moved = 0) {
  statistics::histogram counts(classes, images / classes);
  counts[0] -= moved;
  counts[1] += moved;
  return counts;
}

// Ink spread evenly over [first, first + width) units: `images` values.
void spread_ink(trainer::data_profile& profile, int first, int width) {
  profile.ink_histogram.assign(trainer::ink_histogram_bins, 0);
  for (int i = 0; i < width; ++i) profile.ink_histogram[first + i] = profile.images / width;
}

TEST(Drift, IdenticalProfilesDoNotDrift) {
  const auto reference = profile(6000, 100, 0.13, 0.8);
  const auto report = assess_drift(reference, reference, predictions(1000), predictions(1000));
  ASSERT_EQ(report.checks.size(), 4u);
  const std::vector<std::string> names{"ink", "intensity", "predictions", "mean_image"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(report.checks[i].name, names[i]);
    EXPECT_EQ(report.checks[i].effect, 0.0) << names[i];
    EXPECT_EQ(report.checks[i].verdict, drift_verdict::no_drift) << names[i];
  }
  EXPECT_FALSE(report.drifted());
  EXPECT_EQ(to_string(drift_verdict::no_drift), "no drift");
}

TEST(Drift, OtherImagesDriftOnEveryCheck) {
  // Brighter, grey images with twice the ink, and a model whose predictions pile up in one class.
  const auto reference = profile(6000, 100, 0.13, 0.8);
  const auto current = profile(1000, 220, 0.29, 0.5, true);
  const auto report = assess_drift(reference, current, predictions(1000), predictions(1000, 90));
  for (const auto& check : report.checks) {
    EXPECT_EQ(check.verdict, drift_verdict::drift) << check.name << " " << check.effect;
    EXPECT_GE(check.effect, check.effect_threshold) << check.name;
  }
  EXPECT_TRUE(report.drifted());
  EXPECT_EQ(report.checks[0].effect, 1.0);  // no image's ink in common
  EXPECT_NEAR(report.checks[3].effect, 0.16, 1e-12);
  EXPECT_EQ(to_string(drift_verdict::drift), "drift");
}

TEST(Drift, ASignificantButSmallDifferenceIsNoDrift) {
  // 60,000 against 10,000 images, the second's ink one unit up: D = 1/40, far beyond chance
  // (p = 4.4e-5) but below the distance that matters.
  auto reference = profile(60000, 0, 0.13, 0.8);
  auto current = profile(10000, 0, 0.13, 0.8);
  spread_ink(reference, 80, 40);
  spread_ink(current, 81, 40);
  const auto ink = assess_drift(reference, current, predictions(1000), predictions(1000)).checks[0];
  EXPECT_NEAR(ink.effect, 1.0 / 40.0, 1e-15);
  ASSERT_TRUE(ink.p_value);
  EXPECT_LT(*ink.p_value, drift_alpha);
  EXPECT_EQ(ink.verdict, drift_verdict::no_drift);
}

TEST(Drift, ALargeDifferenceOfFewImagesIsNotBeyondChance) {
  // Ten images against ten, spread over ten units of ink, three units apart: D = 0.3 but p = 0.76.
  auto reference = profile(10, 0, 0.13, 0.8);
  auto current = profile(10, 0, 0.13, 0.8);
  spread_ink(reference, 100, 10);
  spread_ink(current, 103, 10);
  const auto ink = assess_drift(reference, current, predictions(1000), predictions(1000)).checks[0];
  EXPECT_NEAR(ink.effect, 0.3, 1e-12);
  ASSERT_TRUE(ink.p_value);
  EXPECT_GT(*ink.p_value, 0.5);
  EXPECT_EQ(ink.verdict, drift_verdict::no_drift);
}

TEST(Drift, ProfilesOfDifferentShapesAreRefused) {
  const auto reference = profile(6000, 100, 0.13, 0.8);
  auto truncated = reference;
  truncated.mean_image.pop_back();
  EXPECT_THROW(assess_drift(reference, truncated, predictions(1000), predictions(1000)), std::invalid_argument);
  EXPECT_THROW(assess_drift(reference, reference, predictions(1000), {1, 2}), std::invalid_argument);
  auto empty = reference;
  empty.ink_histogram.assign(trainer::ink_histogram_bins, 0);
  EXPECT_THROW(assess_drift(reference, empty, predictions(1000), predictions(1000)), std::invalid_argument);
}

}  // namespace
}  // namespace trackbench::tracking
