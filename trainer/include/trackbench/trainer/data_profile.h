#pragma once
// A compact description of the images and labels of one split, small enough for every run
// snapshot: what new data is later held against to tell whether it drifted.
#include <cstdint>
#include <string>
#include <vector>

namespace trackbench::trainer {

// Per-image ink is the sum of the image's intensities scaled to [0, 1]: 0 to 784 for 28x28.
// Its histogram has bins of one unit, enough for a two-sample Kolmogorov-Smirnov test between
// splits without keeping every image's value.
inline constexpr int ink_histogram_bins = 784;
inline constexpr int intensity_histogram_bins = 256;  // one per byte value

struct data_profile {
  std::string split;        // train, validation or test
  std::uint64_t images = 0;
  std::vector<std::uint64_t> class_counts;         // class_count entries, by label
  std::vector<double> mean_image;                  // image_side^2 intensities in [0, 1], row-major
  std::vector<std::uint64_t> intensity_histogram;  // intensity_histogram_bins pixel counts by byte value
  std::vector<std::uint64_t> ink_histogram;        // ink_histogram_bins image counts; bin i holds ink in [i, i+1), 784 in the last
  double ink_mean = 0.0;
  double ink_stddev = 0.0;  // population standard deviation
};

}  // namespace trackbench::trainer
