#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <iostream>
#include <random>
#include <vector>

#include "support/cudnn_tf32.h"
#include "support/error_message.h"
#include "trackbench/kernels/conv2d.h"
#include "trackbench/kernels/cuda_device.h"
#include "trackbench/kernels/normalize.h"
#include "kernels/v3_layout_model.h"

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

// Shapes of the digit CNN and LeNet, and odd ones: batch 1, sizes and channel counts that
// fill no tile exactly, a 1x1 output, both kernels and both paddings, more output channels
// than one v3 tile holds (70 > 64), and enough rows for several v3 grad-weight slices.
const std::vector<conv2d_shape> conv_shapes = {
    {2, 1, 32, 28, 28, 3, 0},  // digit CNN conv1
    {2, 32, 64, 26, 26, 3, 0},  // digit CNN conv2
    {1, 1, 6, 32, 32, 5, 0},    // LeNet conv1
    {3, 6, 16, 14, 14, 5, 0},   // LeNet conv2
    {3, 3, 5, 9, 7, 3, 1},     {1, 17, 19, 7, 5, 3, 1}, {2, 3, 4, 11, 13, 5, 1},
    {1, 2, 3, 5, 5, 5, 0},     {1, 1, 1, 3, 3, 3, 0},   {33, 2, 3, 6, 5, 3, 1},
    {2, 5, 70, 9, 9, 3, 1},
};

struct conv_tensors {
  torch::Tensor input, weight, bias;
};

conv_tensors random_conv_tensors(const conv2d_shape& s, torch::Device device = torch::kCPU) {
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  return {torch::randn({s.batch, s.in_channels, s.height, s.width}, options),
          torch::randn({s.out_channels, s.in_channels, s.kernel_size, s.kernel_size}, options),
          torch::randn({s.out_channels}, options)};
}

struct conv_gradients {
  torch::Tensor input, weight, bias;
};

// LibTorch's convolution (before any ReLU) and its autograd gradients for the loss
// sum(output * grad_output), in double precision.
std::pair<torch::Tensor, conv_gradients> libtorch_conv(const conv_tensors& t, const torch::Tensor& grad_output,
                                                       std::int64_t padding) {
  auto input = t.input.to(torch::kFloat64).requires_grad_();
  auto weight = t.weight.to(torch::kFloat64).requires_grad_();
  auto bias = t.bias.to(torch::kFloat64).requires_grad_();
  const auto output = torch::conv2d(input, weight, bias, 1, padding);
  (output * grad_output.to(torch::kFloat64)).sum().backward();
  return {output.detach(), {input.grad(), weight.grad(), bias.grad()}};
}

torch::Tensor reference_forward(const conv_tensors& t, const conv2d_shape& s, bool relu) {
  auto output = torch::empty({s.batch, s.out_channels, s.out_height(), s.out_width()});
  conv2d_forward_reference(t.input.data_ptr<float>(), t.weight.data_ptr<float>(), t.bias.data_ptr<float>(),
                           output.data_ptr<float>(), s, relu);
  return output;
}

conv_gradients reference_backward(const conv_tensors& t, const torch::Tensor& grad, const conv2d_shape& s) {
  conv_gradients g{torch::empty_like(t.input), torch::empty_like(t.weight), torch::empty_like(t.bias)};
  conv2d_backward_input_reference(grad.data_ptr<float>(), t.weight.data_ptr<float>(), g.input.data_ptr<float>(), s);
  conv2d_backward_weight_reference(t.input.data_ptr<float>(), grad.data_ptr<float>(), g.weight.data_ptr<float>(),
                                   g.bias.data_ptr<float>(), s);
  return g;
}

// The gradient a fused ReLU passes back: zero where the layer's output was clipped. Both sides
// of a comparison use the same mask, so an output within rounding of zero cannot flip it.
torch::Tensor through_relu(const torch::Tensor& grad_output, const torch::Tensor& output, bool relu) {
  return relu ? grad_output.masked_fill(output <= 0, 0.0) : grad_output;
}

// Element e passes when |actual - expected| <= of_largest * max(1, max|expected|) + rel * |expected|.
// The first term is there because a sum of many terms is off by rounding in proportion to its
// terms' size, not to its own value: a gradient summed over 86,528 positions can be near zero
// after cancellation yet carry the rounding of terms a thousand times larger.
struct tolerance {
  double of_largest;
  double rel;
};

// The kernels against the CPU reference, each summing in its own fixed order.
//   fp32: float sums of up to a few thousand terms (the references' shapes): 1e-5 of the
//     largest value plus 1e-4 relative (an indexing error is off by a whole term, ~1e-1).
//   tf32: each operand rounded to a 10-bit mantissa (relative error up to 2^-11 each), so a
//     product is off by up to ~1e-3 relative and a sum of n products by about
//     sqrt(n) * 5e-4 of its terms' size: 2e-3 of the largest value plus 1e-3 relative.
tolerance kernel_tolerance(precision math) {
  return math == precision::tf32 ? tolerance{2e-3, 1e-3} : tolerance{1e-5, 1e-4};
}
// Against LibTorch's cuDNN, which picks its algorithm by speed: FFT and Winograd algorithms
// round in transformed space, an error relative to the tensor's magnitude (1.3e-3 on
// gradients of magnitude ~1e2 on an H200): 1e-4 of the largest value at fp32; at tf32 both
// sides round to TF32, possibly differently (cuDNN may truncate): 5e-3 of the largest value.
tolerance cudnn_tolerance(precision math) {
  return math == precision::tf32 ? tolerance{5e-3, 1e-3} : tolerance{1e-4, 1e-4};
}

// Compares `actual` (float, any device) with `expected` (any type and device), printing the worst errors.
void expect_close(const char* what, const conv2d_shape& s, const torch::Tensor& actual, const torch::Tensor& expected,
                  tolerance tol) {
  const auto a = actual.cpu().contiguous();
  const auto e = expected.cpu().to(torch::kFloat64).contiguous();
  ASSERT_EQ(a.sizes(), e.sizes()) << what << " " << describe(s);
  const double largest = e.numel() > 0 ? e.abs().max().item<double>() : 0.0;
  const auto worst =
      compare(a.data_ptr<float>(), e.data_ptr<double>(), a.numel(), tol.of_largest * std::max(1.0, largest), tol.rel);
  std::cout << describe(s) << " " << what << ": worst abs " << worst.abs << ", rel " << worst.rel << "\n";
  EXPECT_TRUE(worst.within) << what << " " << describe(s) << ": worst abs " << worst.abs << ", rel " << worst.rel
                            << " (largest |expected| " << largest << ")";
}

void expect_close(const conv2d_shape& s, const conv_gradients& actual, const conv_gradients& expected, tolerance tol) {
  expect_close("grad_input", s, actual.input, expected.input, tol);
  expect_close("grad_weight", s, actual.weight, expected.weight, tol);
  expect_close("grad_bias", s, actual.bias, expected.bias, tol);
}

TEST(ConvKernels, ReferencesMatchLibtorchAndItsGradients) {
  torch::manual_seed(3);
  for (const auto& s : conv_shapes) {
    for (bool relu : {false, true}) {
      const auto t = random_conv_tensors(s);
      const auto output = reference_forward(t, s, relu);
      const auto grad = through_relu(torch::randn(output.sizes()), output, relu);
      const auto [expected_output, expected_gradients] = libtorch_conv(t, grad, s.padding);
      const auto tol = kernel_tolerance(precision::fp32);
      expect_close(relu ? "forward+relu" : "forward", s, output, relu ? torch::relu(expected_output) : expected_output,
                   tol);
      expect_close(s, reference_backward(t, grad, s), expected_gradients, tol);
    }
  }
}

TEST(ConvKernels, UnsupportedShapesAreClearErrors) {
  const conv2d_shape good{1, 1, 1, 8, 8, 3, 0};
  auto message = [&](auto change) {
    auto bad = good;
    change(bad);
    return testing::error_message<std::invalid_argument>([&] { check_conv2d_shape(bad); });
  };
  EXPECT_NE(message([](conv2d_shape& s) { s.kernel_size = 4; })
                .find("conv2d: only 3x3 and 5x5 kernels are supported (N=1 C=1 K=1 HxW=8x8 kernel=4 padding=0)"),
            std::string::npos);
  EXPECT_NE(message([](conv2d_shape& s) { s.padding = 2; }).find("only padding 0 and 1"), std::string::npos);
  EXPECT_NE(message([](conv2d_shape& s) { s.width = 129; }).find("larger than 128x128"), std::string::npos);
  EXPECT_NE(message([](conv2d_shape& s) { s.height = 2; }).find("smaller than the kernel"), std::string::npos);
  EXPECT_NE(message([](conv2d_shape& s) { s.batch = 0; }).find("must be >= 1"), std::string::npos);
  EXPECT_NO_THROW(check_conv2d_shape(good));
  auto bad = good;
  bad.padding = 3;
  EXPECT_THROW(conv2d_forward_reference(nullptr, nullptr, nullptr, nullptr, bad, false), std::invalid_argument);
}

TEST(ConvKernels, VersionsHaveNames) {
  EXPECT_EQ(conv2d_version_name(1), "naive");
  EXPECT_EQ(conv2d_version_name(2), "tiled");
  EXPECT_EQ(conv2d_version_name(3), "implicit GEMM");
  EXPECT_THROW(conv2d_version_name(0), std::invalid_argument);
  EXPECT_THROW(conv2d_version_name(conv2d_version_count + 1), std::invalid_argument);
}

// The version is checked before anything touches the GPU, so this runs without one.
TEST(ConvKernels, UnknownVersionNamesTheValidOnes) {
  const conv2d_shape s{1, 1, 1, 8, 8, 3, 0};
  try {
    conv2d_forward_cuda(nullptr, nullptr, nullptr, nullptr, s, false, nullptr, 9);
    ADD_FAILURE() << "version 9 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("conv2d: unknown kernel version 9; versions are 1 (naive), 2 (tiled), "
                                         "3 (implicit GEMM), or 0 for the default (2)"),
              std::string::npos)
        << e.what();
  } catch (const std::runtime_error& e) {
    GTEST_SKIP() << "a build without CUDA: " << e.what();
  }
}

// Empty when a GPU is usable; otherwise why not.
std::string no_gpu_reason() {
  const auto cuda = probe_cuda();
  if (!cuda.usable) return cuda.reason;
  return torch::cuda::is_available() ? "" : "LibTorch cannot use the GPU the runtime reports";
}

const precision precisions[] = {precision::fp32, precision::tf32};

torch::Tensor cuda_forward(const conv_tensors& t, const conv2d_shape& s, bool relu, int version, precision math) {
  auto output = torch::empty({s.batch, s.out_channels, s.out_height(), s.out_width()}, t.input.options());
  conv2d_forward_cuda(t.input.data_ptr<float>(), t.weight.data_ptr<float>(), t.bias.data_ptr<float>(),
                      output.data_ptr<float>(), s, relu, nullptr, version, math);
  return output;
}

// grad_input masked by relu_input > 0 when relu_input is defined.
conv_gradients cuda_backward(const conv_tensors& t, const torch::Tensor& grad, const conv2d_shape& s, int version,
                             precision math, const torch::Tensor& relu_input = {}) {
  conv_gradients g{torch::empty_like(t.input), torch::empty_like(t.weight), torch::empty_like(t.bias)};
  conv2d_backward_input_cuda(grad.data_ptr<float>(), t.weight.data_ptr<float>(), g.input.data_ptr<float>(), s, nullptr,
                             version, math, relu_input.defined() ? relu_input.data_ptr<float>() : nullptr);
  const auto workspace = torch::empty(
      {std::max<std::int64_t>(1, conv2d_backward_weight_workspace_floats(s, version, math))}, t.input.options());
  conv2d_backward_weight_cuda(t.input.data_ptr<float>(), grad.data_ptr<float>(), g.weight.data_ptr<float>(),
                              g.bias.data_ptr<float>(), workspace.data_ptr<float>(), s, nullptr, version, math);
  return g;
}

conv_tensors to_gpu(const conv_tensors& t) { return {t.input.cuda(), t.weight.cuda(), t.bias.cuda()}; }

TEST(ConvKernels, CudaVersionsMatchTheReferences) {
  if (const auto why = no_gpu_reason(); !why.empty()) GTEST_SKIP() << "no usable CUDA device: " << why;
  torch::manual_seed(4);
  for (const auto& s : conv_shapes) {
    for (bool relu : {false, true}) {
      const auto t = random_conv_tensors(s);
      const auto output = reference_forward(t, s, relu);
      const auto grad = through_relu(torch::randn(output.sizes()), output, relu);
      const auto expected = reference_backward(t, grad, s);
      // The ReLU mask of grad-input, with the layer input itself as the ReLU's output.
      const auto expected_masked = expected.input.masked_fill(t.input <= 0, 0.0);
      const auto gpu = to_gpu(t);
      const auto gpu_grad = grad.cuda();
      for (int version = 1; version <= conv2d_version_count; ++version) {
        for (const auto math : precisions) {
          SCOPED_TRACE("version " + std::to_string(version) + " " + to_string(math));
          const auto tol = kernel_tolerance(math);
          expect_close("forward", s, cuda_forward(gpu, s, relu, version, math), output, tol);
          expect_close(s, cuda_backward(gpu, gpu_grad, s, version, math), expected, tol);
          expect_close("grad_input masked", s, cuda_backward(gpu, gpu_grad, s, version, math, gpu.input).input,
                       expected_masked, tol);
        }
      }
    }
  }
}

// v1 and v2 have no tensor-core path, nor has v3's conv1 grad-weight: asked for tf32, they
// compute exactly their fp32 results.
TEST(ConvKernels, VersionsWithoutTensorCoresComputeFp32AtTf32) {
  if (const auto why = no_gpu_reason(); !why.empty()) GTEST_SKIP() << "no usable CUDA device: " << why;
  torch::manual_seed(9);
  const conv2d_shape s{8, 32, 64, 26, 26, 3, 0};
  const auto t = to_gpu(random_conv_tensors(s));
  const auto grad = torch::randn({s.batch, s.out_channels, s.out_height(), s.out_width()}, t.input.options());
  for (int version : {1, 2}) {
    EXPECT_TRUE(torch::equal(cuda_forward(t, s, true, version, precision::tf32),
                             cuda_forward(t, s, true, version, precision::fp32)))
        << "version " << version;
    const auto tf32 = cuda_backward(t, grad, s, version, precision::tf32);
    const auto fp32 = cuda_backward(t, grad, s, version, precision::fp32);
    EXPECT_TRUE(torch::equal(tf32.input, fp32.input) && torch::equal(tf32.weight, fp32.weight) &&
                torch::equal(tf32.bias, fp32.bias))
        << "version " << version;
  }
  // v3's grad-weight for conv1 (10 rows to its product) streams on CUDA cores at either precision.
  const conv2d_shape conv1{8, 1, 32, 28, 28, 3, 0};
  const auto t1 = to_gpu(random_conv_tensors(conv1));
  const auto grad1 = torch::randn({conv1.batch, conv1.out_channels, conv1.out_height(), conv1.out_width()},
                                  t1.input.options());
  const auto tf32 = cuda_backward(t1, grad1, conv1, 3, precision::tf32);
  const auto fp32 = cuda_backward(t1, grad1, conv1, 3, precision::fp32);
  EXPECT_TRUE(torch::equal(tf32.weight, fp32.weight) && torch::equal(tf32.bias, fp32.bias));
}

// v3 asked for tf32 takes its tensor-core path: TF32 rounding changes the results' bits.
TEST(ConvKernels, ImplicitGemmAtTf32RoundsItsInputs) {
  if (const auto why = no_gpu_reason(); !why.empty()) GTEST_SKIP() << "no usable CUDA device: " << why;
  torch::manual_seed(10);
  const conv2d_shape s{8, 32, 64, 26, 26, 3, 0};
  const auto t = to_gpu(random_conv_tensors(s));
  const auto grad = torch::randn({s.batch, s.out_channels, s.out_height(), s.out_width()}, t.input.options());
  EXPECT_FALSE(
      torch::equal(cuda_forward(t, s, false, 3, precision::tf32), cuda_forward(t, s, false, 3, precision::fp32)));
  const auto tf32 = cuda_backward(t, grad, s, 3, precision::tf32);
  const auto fp32 = cuda_backward(t, grad, s, 3, precision::fp32);
  EXPECT_FALSE(torch::equal(tf32.input, fp32.input));
  EXPECT_FALSE(torch::equal(tf32.weight, fp32.weight));
}

// Every version at both precisions against LibTorch's cuDNN at the same precision (TF32
// allowed in cuDNN exactly when the kernels are asked for tf32).
TEST(ConvKernels, CudaVersionsMatchCudnn) {
  if (const auto why = no_gpu_reason(); !why.empty()) GTEST_SKIP() << "no usable CUDA device: " << why;
  torch::manual_seed(5);
  for (const conv2d_shape& s : {conv2d_shape{128, 1, 32, 28, 28, 3, 0}, conv2d_shape{128, 32, 64, 26, 26, 3, 0},
                                conv2d_shape{16, 6, 16, 14, 14, 5, 1}}) {
    const auto t = to_gpu(random_conv_tensors(s));
    const auto grad = torch::randn({s.batch, s.out_channels, s.out_height(), s.out_width()}, t.input.options());
    for (const auto math : precisions) {
      const testing::cudnn_tf32_scope tf32(math == precision::tf32);
      auto input = t.input.clone().requires_grad_();
      auto weight = t.weight.clone().requires_grad_();
      auto bias = t.bias.clone().requires_grad_();
      const auto cudnn_output = torch::conv2d(input, weight, bias, 1, s.padding);
      cudnn_output.backward(grad);
      for (int version = 1; version <= conv2d_version_count; ++version) {
        SCOPED_TRACE("version " + std::to_string(version) + " " + to_string(math));
        const auto tol = cudnn_tolerance(math);
        expect_close("forward", s, cuda_forward(t, s, false, version, math), cudnn_output.detach(), tol);
        expect_close(s, cuda_backward(t, grad, s, version, math), {input.grad(), weight.grad(), bias.grad()}, tol);
      }
    }
  }
}

TEST(ConvKernels, CudaVersionsAreBitwiseDeterministic) {
  if (const auto why = no_gpu_reason(); !why.empty()) GTEST_SKIP() << "no usable CUDA device: " << why;
  torch::manual_seed(6);
  for (const conv2d_shape& s : {conv2d_shape{256, 32, 64, 26, 26, 3, 0}, conv2d_shape{256, 1, 32, 28, 28, 3, 0}}) {
    const auto t = to_gpu(random_conv_tensors(s));
    const auto grad = torch::randn({s.batch, s.out_channels, s.out_height(), s.out_width()}, t.input.options());
    for (int version = 1; version <= conv2d_version_count; ++version) {
      for (const auto math : precisions) {
        const auto what = describe(s) + " version " + std::to_string(version) + " " + to_string(math);
        const auto first_output = cuda_forward(t, s, true, version, math);
        const auto first = cuda_backward(t, grad, s, version, math, t.input);
        for (int run = 0; run < 2; ++run) {
          EXPECT_TRUE(torch::equal(cuda_forward(t, s, true, version, math), first_output)) << what;
          const auto again = cuda_backward(t, grad, s, version, math, t.input);
          EXPECT_TRUE(torch::equal(again.input, first.input)) << what;
          EXPECT_TRUE(torch::equal(again.weight, first.weight)) << what;
          EXPECT_TRUE(torch::equal(again.bias, first.bias)) << what;
        }
      }
    }
  }
}


// ---- v3's index maps, emulated lane by lane on the host (kernels/v3_layout_model.h) ----

namespace v3 = detail::v3;
using namespace v3_model;

TEST(ConvKernelsV3Layout, GemmThroughTheKernelsMapsMatchesAPlainProduct) {
  std::mt19937 generator(11);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (const auto& tile : v3_tiles) {
    for (const bool tf32 : {true, false}) {
      for (const int steps : {1, 2, 5}) {
        const int red = steps * v3::block_red;
        std::vector<float> a(static_cast<std::size_t>(tile.rows) * red), b(static_cast<std::size_t>(red) * tile.cols);
        for (auto& v : a) v = uniform(generator);
        for (auto& v : b) v = uniform(generator);
        std::vector<double> expected(static_cast<std::size_t>(tile.rows) * tile.cols, 0.0);
        for (int m = 0; m < tile.rows; ++m) {
          for (int k = 0; k < red; ++k) {
            for (int n = 0; n < tile.cols; ++n) {
              expected[m * tile.cols + n] += double{a[m * red + k]} * b[k * tile.cols + n];
            }
          }
        }
        const auto actual = emulate_v3_gemm(tile, tf32, steps, a, b);
        const auto worst =
            compare(actual.data(), expected.data(), static_cast<std::int64_t>(expected.size()), 1e-5, 1e-5);
        const auto what = std::to_string(tile.rows) + "x" + std::to_string(tile.cols) +
                          (tile.forward_a ? " forward A" : " grad-weight A") +
                          (tf32 ? " tensor cores" : " CUDA cores") + ", " + std::to_string(red) + " reduction steps";
        std::cout << what << ": worst abs " << worst.abs << ", worst rel " << worst.rel << "\n";
        EXPECT_TRUE(worst.within) << what << ": worst abs " << worst.abs << ", worst rel " << worst.rel;
      }
    }
  }
}

// Shared-memory bank conflicts of every warp-wide store and tensor-core fragment read, as the
// layout's comment claims them: fragment reads and tensor-core stores conflict-free, CUDA-core
// stores at most 2-way (their skew stays a multiple of 4 for the float4 reads).
TEST(ConvKernelsV3Layout, StoresAndFragmentReadsSpreadOverTheBanks) {
  for (const auto& tile : v3_tiles) {
    const shared_model s(tile);
    const int warps_m = tile.rows / 32;
    for (const bool tf32 : {true, false}) {
      const auto what = std::to_string(tile.rows) + "x" + std::to_string(tile.cols) +
                        (tile.forward_a ? " forward A" : " grad-weight A") + (tf32 ? " tf32" : " fp32");
      for (int stage = 0; stage < 2; ++stage) {
        for (int warp = 0; warp < v3::threads / 32; ++warp) {
          for (int q = 0; q < tile.rows * v3::block_red / v3::threads; ++q) {
            std::vector<int> offsets;
            for (int lane = 0; lane < 32; ++lane) {
              const auto e = a_store_element(tile, warp * 32 + lane, q);
              offsets.push_back(s.a_offset(stage, e.step, v3::shared_position(e.step, e.index, tf32)));
            }
            EXPECT_LE(bank_ways(offsets), tf32 || tile.forward_a ? 1 : 2) << what << ": A store " << q;
          }
          for (int q = 0; q < tile.cols * v3::block_red / v3::threads; ++q) {
            std::vector<int> offsets;
            for (int lane = 0; lane < 32; ++lane) {
              const auto e = v3::step_major_element(warp * 32 + lane, q);
              offsets.push_back(s.b_offset(stage, e.step, v3::shared_position(e.step, e.index, tf32)));
            }
            EXPECT_LE(bank_ways(offsets), tf32 ? 1 : 2) << what << ": B store " << q;
          }
          if (!tf32) continue;
          for (int k8 = 0; k8 < v3::block_red; k8 += 8) {
            for (int t = 0; t < 4; ++t) {  // mt or nt
              for (int r = 0; r < 4; ++r) {
                std::vector<int> a_reads, b_reads;
                for (int lane = 0; lane < 32; ++lane) {
                  const auto ea = v3::a_fragment_element(warps_m, warp, lane, k8, t % 2, r);
                  a_reads.push_back(s.a_offset(stage, ea.step, v3::shared_position(ea.step, ea.index, true)));
                  const auto eb = v3::b_fragment_element(warps_m, warp, lane, k8, t, r % 2);
                  b_reads.push_back(s.b_offset(stage, eb.step, v3::shared_position(eb.step, eb.index, true)));
                }
                EXPECT_EQ(bank_ways(a_reads), 1) << what << ": A fragment read";
                EXPECT_EQ(bank_ways(b_reads), 1) << what << ": B fragment read";
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace trackbench::kernels
