#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "trackbench/kernels/cuda_device.h"
#include "trackbench/kernels/normalize.h"

namespace trackbench::kernels {
namespace {

constexpr double mnist_mean = 0.1307;
constexpr double mnist_std = 0.3081;

struct worst_error {
  double abs = 0.0;
  double rel = 0.0;
  bool within = true;
};

// abs + rel * |ref| tolerance, as llm.c checks its kernels; reports the worst element.
worst_error compare(const float* actual, const double* expected, std::int64_t count, double abs_tol, double rel_tol) {
  worst_error worst;
  for (std::int64_t i = 0; i < count; ++i) {
    const double diff = std::abs(static_cast<double>(actual[i]) - expected[i]);
    worst.abs = std::max(worst.abs, diff);
    if (expected[i] != 0.0) worst.rel = std::max(worst.rel, diff / std::abs(expected[i]));
    worst.within = worst.within && diff <= abs_tol + rel_tol * std::abs(expected[i]);
  }
  return worst;
}

TEST(NormalizeKernels, ReferenceMatchesTheDefinitionForEveryByte) {
  std::vector<std::uint8_t> bytes(256);
  for (int i = 0; i < 256; ++i) bytes[i] = static_cast<std::uint8_t>(i);
  std::vector<float> output(256);
  normalize_pixels_reference(bytes.data(), output.data(), 256, pixel_normalisation(mnist_mean, mnist_std));
  std::vector<double> expected(256);
  for (int i = 0; i < 256; ++i) expected[i] = (i / 255.0 - mnist_mean) / mnist_std;
  const auto worst = compare(output.data(), expected.data(), 256, 1e-6, 1e-6);
  EXPECT_TRUE(worst.within) << "worst abs " << worst.abs << ", rel " << worst.rel;
}

TEST(NormalizeKernels, CudaMatchesTheReference) {
  const auto cuda = probe_cuda();
  if (!cuda.usable || !torch::cuda::is_available()) GTEST_SKIP() << "no usable GPU: " << cuda.reason;
  const auto affine = pixel_normalisation(mnist_mean, mnist_std);
  for (std::int64_t count : {1, 255, 784 * 64 + 1, 784 * 1000}) {
    const auto input = torch::randint(0, 256, {count}, torch::kUInt8);
    std::vector<float> reference(static_cast<std::size_t>(count));
    normalize_pixels_reference(input.data_ptr<std::uint8_t>(), reference.data(), count, affine);
    const auto device_input = input.cuda();
    auto device_output = torch::empty({count}, device_input.options().dtype(torch::kFloat32));
    normalize_pixels_cuda(device_input.data_ptr<std::uint8_t>(), device_output.data_ptr<float>(), count, affine, nullptr);
    const auto output = device_output.cpu();
    const std::vector<double> expected(reference.begin(), reference.end());
    // The GPU may fuse the multiply-add: one rounding fewer, so not always bitwise equal.
    const auto worst = compare(output.data_ptr<float>(), expected.data(), count, 1e-6, 1e-6);
    EXPECT_TRUE(worst.within) << "count " << count << ": worst abs " << worst.abs << ", rel " << worst.rel;
  }
}

}  // namespace
}  // namespace trackbench::kernels
