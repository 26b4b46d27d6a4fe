#include "trackbench/trainer/datasets.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace trackbench::trainer {

data_profile profile_of(const data_split& data, std::string split) {
  constexpr std::int64_t pixels = image_side * image_side;
  data_profile profile;
  profile.split = std::move(split);
  profile.class_counts.assign(class_count, 0);
  profile.mean_image.assign(pixels, 0.0);
  profile.intensity_histogram.assign(intensity_histogram_bins, 0);
  profile.ink_histogram.assign(ink_histogram_bins, 0);
  const std::int64_t count = data.size();
  profile.images = static_cast<std::uint64_t>(count);
  if (count == 0) return profile;

  const torch::Tensor images = data.images.to(torch::kCPU).contiguous();
  const torch::Tensor labels = data.labels.to(torch::kCPU).contiguous();
  if (images.scalar_type() != torch::kUInt8 || images.numel() != count * pixels || labels.scalar_type() != torch::kInt64) {
    throw std::logic_error("profile_of needs uint8 images [N, 1, 28, 28] and int64 labels");
  }
  const std::uint8_t* bytes = images.data_ptr<std::uint8_t>();
  const std::int64_t* label = labels.data_ptr<std::int64_t>();
  // Integer sums are exact whatever the order; the doubles are formed once at the end.
  std::vector<std::uint64_t> pixel_sums(pixels, 0);
  long double ink_sum = 0, ink_square_sum = 0;  // of the byte sums, each at most 784 * 255
  for (std::int64_t i = 0; i < count; ++i) {
    const std::uint8_t* image = bytes + i * pixels;
    std::uint64_t ink = 0;
    for (std::int64_t p = 0; p < pixels; ++p) {
      pixel_sums[p] += image[p];
      ++profile.intensity_histogram[image[p]];
      ink += image[p];
    }
    if (label[i] < 0 || label[i] >= class_count) throw std::logic_error("profile_of: a label outside 0..9");
    ++profile.class_counts[static_cast<std::size_t>(label[i])];
    // Bin i holds ink in [i, i + 1): the byte sum in [255 i, 255 (i + 1)); 784 (all white) in the last.
    const auto bin = std::min<std::uint64_t>(ink / 255, ink_histogram_bins - 1);
    ++profile.ink_histogram[bin];
    ink_sum += ink;
    ink_square_sum += static_cast<long double>(ink) * ink;
  }
  for (std::int64_t p = 0; p < pixels; ++p) profile.mean_image[p] = static_cast<double>(pixel_sums[p]) / 255.0 / count;
  const long double mean = ink_sum / count;
  const long double variance = std::max<long double>(ink_square_sum / count - mean * mean, 0);
  profile.ink_mean = static_cast<double>(mean / 255);
  profile.ink_stddev = static_cast<double>(std::sqrt(variance) / 255);
  return profile;
}

data_split subset(const data_split& data, const torch::Tensor& indices) {
  return {data.images.index_select(0, indices), data.labels.index_select(0, indices)};
}

}  // namespace trackbench::trainer
