#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "trackbench/trainer/datasets.h"

namespace trackbench::trainer {
namespace {

// Three images by hand: all black (label 2), one white pixel (label 2), all white (label 7).
data_split three_images() {
  auto images = torch::zeros({3, 1, image_side, image_side}, torch::kUInt8);
  images[1][0][0][5] = 255;
  images[2].fill_(255);
  return {images, torch::tensor({2, 2, 7}, torch::kInt64)};
}

TEST(DataProfile, CountsEveryPixelAndImage) {
  const auto profile = profile_of(three_images(), "test");
  EXPECT_EQ(profile.split, "test");
  EXPECT_EQ(profile.images, 3u);
  ASSERT_EQ(profile.class_counts.size(), 10u);
  EXPECT_EQ(profile.class_counts[2], 2u);
  EXPECT_EQ(profile.class_counts[7], 1u);
  EXPECT_EQ(std::accumulate(profile.class_counts.begin(), profile.class_counts.end(), std::uint64_t{0}), 3u);
  ASSERT_EQ(profile.intensity_histogram.size(), 256u);
  EXPECT_EQ(profile.intensity_histogram[0], 783u + 784u);  // black pixels of images 0 and 1
  EXPECT_EQ(profile.intensity_histogram[255], 1u + 784u);
  ASSERT_EQ(profile.mean_image.size(), 784u);
  EXPECT_DOUBLE_EQ(profile.mean_image[5], 2.0 / 3.0);  // white in images 1 and 2
  EXPECT_DOUBLE_EQ(profile.mean_image[6], 1.0 / 3.0);
}

TEST(DataProfile, InkBinsMeanAndStddev) {
  const auto profile = profile_of(three_images(), "train");
  ASSERT_EQ(profile.ink_histogram.size(), 784u);
  EXPECT_EQ(profile.ink_histogram[0], 1u);    // ink 0
  EXPECT_EQ(profile.ink_histogram[1], 1u);    // ink exactly 1 falls in [1, 2)
  EXPECT_EQ(profile.ink_histogram[783], 1u);  // ink 784 goes to the last bin
  const double mean = (0.0 + 1.0 + 784.0) / 3.0;
  EXPECT_NEAR(profile.ink_mean, mean, 1e-12);
  const double variance = (mean * mean + (1.0 - mean) * (1.0 - mean) + (784.0 - mean) * (784.0 - mean)) / 3.0;
  EXPECT_NEAR(profile.ink_stddev, std::sqrt(variance), 1e-9);
}

TEST(DataProfile, PartialInkFallsInItsUnitBin) {
  auto images = torch::zeros({1, 1, image_side, image_side}, torch::kUInt8);
  images[0][0][0][0] = 200;
  images[0][0][0][1] = 200;  // ink 400/255 = 1.57
  const auto profile = profile_of({images, torch::tensor({0}, torch::kInt64)}, "test");
  EXPECT_EQ(profile.ink_histogram[1], 1u);
  EXPECT_EQ(profile.ink_stddev, 0.0);
  EXPECT_DOUBLE_EQ(profile.ink_mean, 400.0 / 255.0);
}

TEST(DataProfile, EmptySplitIsAllZeros) {
  const data_split empty{torch::zeros({0, 1, image_side, image_side}, torch::kUInt8), torch::zeros({0}, torch::kInt64)};
  const auto profile = profile_of(empty, "validation");
  EXPECT_EQ(profile.images, 0u);
  EXPECT_EQ(profile.ink_histogram.size(), 784u);
  EXPECT_EQ(std::accumulate(profile.ink_histogram.begin(), profile.ink_histogram.end(), std::uint64_t{0}), 0u);
  EXPECT_EQ(profile.mean_image.size(), 784u);
  EXPECT_EQ(profile.ink_mean, 0.0);
}

TEST(DataProfile, SubsetTakesTheIndicesInOrder) {
  const auto part = subset(three_images(), torch::tensor({2, 0}, torch::kInt64));
  EXPECT_EQ(part.size(), 2);
  EXPECT_EQ(part.labels[0].item<std::int64_t>(), 7);
  EXPECT_EQ(profile_of(part, "train").ink_histogram[783], 1u);
}

}  // namespace
}  // namespace trackbench::trainer
