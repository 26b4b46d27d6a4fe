#include <gtest/gtest.h>

#include <limits>

#include "support/cudnn_tf32.h"
#include "support/error_message.h"
#include "trackbench/kernels/cuda_device.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/model.h"

namespace trackbench::trainer {
namespace {

TEST(Model, OutputsLogProbabilitiesForEachClass) {
  torch::manual_seed(0);
  digit_cnn model;
  model->eval();
  for (std::int64_t batch : {1, 3, 64}) {
    const auto output = model->forward(torch::randn({batch, 1, 28, 28}));
    ASSERT_EQ(output.sizes(), (std::vector<std::int64_t>{batch, 10}));
    EXPECT_TRUE(torch::allclose(output.exp().sum(1), torch::ones({batch}), 1e-5, 1e-5));
  }
}

TEST(Model, HasThePytorchExampleParameters) {
  digit_cnn model;
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> shapes;
  std::int64_t total = 0;
  for (const auto& item : model->named_parameters()) {
    shapes.emplace_back(item.key(), item.value().sizes().vec());
    total += item.value().numel();
  }
  const std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected = {
      {"conv1.weight", {32, 1, 3, 3}}, {"conv1.bias", {32}},   {"conv2.weight", {64, 32, 3, 3}}, {"conv2.bias", {64}},
      {"fc1.weight", {128, 9216}},     {"fc1.bias", {128}},    {"fc2.weight", {10, 128}},        {"fc2.bias", {10}}};
  EXPECT_EQ(shapes, expected);
  EXPECT_EQ(total, 1199882);
}

TEST(Model, ConvSeamComputesAConvolution) {
  torch::manual_seed(1);
  const auto input = torch::randn({2, 3, 9, 7});
  const auto weight = torch::randn({4, 3, 3, 3});
  const auto bias = torch::randn({4});
  for (std::int64_t padding : {0, 1}) {
    const auto output = conv2d(conv_backend::cudnn, input, weight, bias, padding, /*relu=*/false);
    // One output element by the definition of a convolution.
    const std::int64_t n = 1, k = 2, y = 3, x = 4;
    double expected = bias[k].item<double>();
    for (std::int64_t c = 0; c < 3; ++c) {
      for (std::int64_t i = 0; i < 3; ++i) {
        for (std::int64_t j = 0; j < 3; ++j) {
          const std::int64_t iy = y + i - padding, ix = x + j - padding;
          if (iy < 0 || iy >= 9 || ix < 0 || ix >= 7) continue;
          expected += input[n][c][iy][ix].item<double>() * weight[k][c][i][j].item<double>();
        }
      }
    }
    EXPECT_NEAR(output[n][k][y][x].item<double>(), expected, 1e-4) << "padding " << padding;
    EXPECT_EQ(output.size(2), 9 - 2 + 2 * padding);
  }
}

TEST(Model, ConvBackendNamesRoundTrip) {
  for (const auto& name : conv_backend_names()) EXPECT_EQ(to_string(parse_conv_backend(name)), name);
  const auto message = testing::error_message<input_error>([] { parse_conv_backend("winograd"); });
  EXPECT_NE(message.find("--conv: unknown backend 'winograd'"), std::string::npos) << message;
}

// custom_vN names version N of the custom kernels, and runs record that form even for the
// default ("custom"), so a file keeps its meaning when the default version changes.
TEST(Model, ConvNamesCarryTheCustomKernelVersion) {
  EXPECT_EQ(conv_names().size(), conv_backend_names().size() + kernels::conv2d_version_count);
  for (const auto& name : conv_names()) {
    const auto choice = parse_conv(name);
    const auto recorded = conv_name(choice.backend, choice.kernel_version);
    EXPECT_EQ(recorded, name == "custom" ? "custom_v" + std::to_string(kernels::conv2d_default_version) : name);
  }
  EXPECT_EQ(parse_conv("custom_v3").backend, conv_backend::custom);
  EXPECT_EQ(parse_conv("custom_v3").kernel_version, 3);
  EXPECT_EQ(parse_conv("custom_v1").kernel_version, 1);
  EXPECT_EQ(parse_conv("custom").kernel_version, kernels::conv2d_default_version);
  EXPECT_EQ(conv_name(conv_backend::custom, 0), "custom_v" + std::to_string(kernels::conv2d_default_version));
  EXPECT_EQ(conv_name(conv_backend::cudnn, 3), "cudnn");
  const auto message = testing::error_message<input_error>([] { parse_conv("custom_v9"); });
  EXPECT_NE(message.find("--conv: unknown backend 'custom_v9'; expected one of cudnn, custom, custom_v1"),
            std::string::npos)
      << message;
}

struct conv_case {
  std::vector<std::int64_t> input, weight;
  std::int64_t padding;
  bool relu;
};

// The digit CNN's two layers, a LeNet-style 5x5 layer, and odd sizes with padding.
const std::vector<conv_case> conv_cases = {{{3, 1, 28, 28}, {32, 1, 3, 3}, 0, true},
                                           {{5, 32, 26, 26}, {64, 32, 3, 3}, 0, true},
                                           {{3, 3, 9, 7}, {4, 3, 5, 5}, 1, false},
                                           {{9, 2, 6, 5}, {3, 2, 3, 3}, 1, true}};

struct seam_result {
  torch::Tensor output, grad_input, grad_weight, grad_bias;
};

// Output and autograd gradients of sum(output * grad_output) through the seam.
seam_result through_seam(conv_backend backend, const conv_case& c, const torch::Tensor& input, const torch::Tensor& weight,
                         const torch::Tensor& bias, const torch::Tensor& grad_output) {
  auto x = input.clone().requires_grad_();
  auto w = weight.clone().requires_grad_();
  auto b = bias.clone().requires_grad_();
  const auto output = conv2d(backend, x, w, b, c.padding, c.relu);
  (output * grad_output).sum().backward();
  return {output.detach(), x.grad(), w.grad(), b.grad()};
}

// |actual - expected| <= 1e-4 * |expected| + atol, atol = 1e-4 * max(1, of_largest * max|expected|).
// of_largest > 0 where the expected side is cuDNN: it picks its algorithm by speed, and its FFT
// and Winograd algorithms round in transformed space, an error relative to the tensor's size
// (1.3e-3 on a grad_weight of magnitude ~1e2 on an H200), not to each element's.
void expect_close(const char* what, const torch::Tensor& actual, const torch::Tensor& expected, double of_largest) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double worst = (actual.cpu() - expected.cpu()).abs().max().item<double>();
  const double largest = expected.abs().max().item<double>();
  const double atol = 1e-4 * std::max(1.0, of_largest * largest);
  EXPECT_TRUE(torch::allclose(actual.cpu(), expected.cpu(), 1e-4, atol))
      << what << ": worst abs error " << worst << ", largest |expected| " << largest;
}

// of_largest: see expect_close.
void expect_backends_agree(conv_backend backend, torch::Device device, double of_largest) {
  torch::manual_seed(7);
  for (const auto& c : conv_cases) {
    SCOPED_TRACE(c10::str("input ", c10::IntArrayRef(c.input), ", weight ", c10::IntArrayRef(c.weight)));
    const auto options = torch::TensorOptions().device(device);
    const auto input = torch::randn(c.input, options);
    const auto weight = torch::randn(c.weight, options);
    const auto bias = torch::randn({c.weight[0]}, options);
    const auto expected_output = conv2d(conv_backend::cudnn, input, weight, bias, c.padding, c.relu);
    const auto grad_output = torch::randn(expected_output.sizes(), options);
    const auto expected = through_seam(conv_backend::cudnn, c, input, weight, bias, grad_output);
    const auto actual = through_seam(backend, c, input, weight, bias, grad_output);
    expect_close("output", actual.output, expected.output, of_largest);
    expect_close("grad_input", actual.grad_input, expected.grad_input, of_largest);
    expect_close("grad_weight", actual.grad_weight, expected.grad_weight, of_largest);
    expect_close("grad_bias", actual.grad_bias, expected.grad_bias, of_largest);
  }
}

TEST(Model, ReferenceBackendMatchesLibtorchAutograd) {
  expect_backends_agree(conv_backend::reference, torch::kCPU, 0.0);
}

TEST(Model, CustomBackendMatchesCudnnAutograd) {
  const auto cuda = kernels::probe_cuda();
  if (!cuda.usable || !torch::cuda::is_available()) GTEST_SKIP() << "no usable CUDA device: " << cuda.reason;
  const testing::cudnn_tf32_scope fp32(false);  // the custom kernels run fp32: so does cuDNN here
  expect_backends_agree(conv_backend::custom, torch::Device(torch::kCUDA, 0), 1.0);
}

// Two layers as the digit CNN chains them, conv1's ReLU mask left to conv2's grad-input
// (relu_mask::by_next_layer, then from_input), against cuDNN and LibTorch's ReLU. Without the
// mask conv1's weight and bias gradients would take the clipped positions' gradient too.
void expect_fused_relu_mask_matches(conv_backend backend, torch::Device device, double of_largest) {
  torch::manual_seed(11);
  const auto options = torch::TensorOptions().device(device);
  const auto input = torch::randn({3, 1, 12, 12}, options);
  const auto w1 = torch::randn({8, 1, 3, 3}, options), b1 = torch::randn({8}, options);
  const auto w2 = torch::randn({6, 8, 3, 3}, options), b2 = torch::randn({6}, options);
  const auto grad_output = torch::randn({3, 6, 8, 8}, options);
  std::vector<torch::Tensor> gradients[2];
  for (int side = 0; side < 2; ++side) {
    const bool fused = side == 1;
    std::vector<torch::Tensor> leaves{input.clone(), w1.clone(), b1.clone(), w2.clone(), b2.clone()};
    for (auto& leaf : leaves) leaf.requires_grad_();
    const auto hidden = conv2d(fused ? backend : conv_backend::cudnn, leaves[0], leaves[1], leaves[2], 0, true,
                               kernels::precision::fp32, fused ? relu_mask::by_next_layer : relu_mask::own);
    if (fused) EXPECT_GT((hidden == 0).sum().item<std::int64_t>(), 0) << "the ReLU clips nothing: a test of nothing";
    const auto output = conv2d(fused ? backend : conv_backend::cudnn, hidden, leaves[3], leaves[4], 0, false,
                               kernels::precision::fp32, fused ? relu_mask::from_input : relu_mask::own);
    (output * grad_output).sum().backward();
    for (const auto& leaf : leaves) gradients[side].push_back(leaf.grad());
  }
  const char* names[] = {"grad input", "grad conv1 weight", "grad conv1 bias", "grad conv2 weight", "grad conv2 bias"};
  for (int i = 0; i < 5; ++i) expect_close(names[i], gradients[1][i], gradients[0][i], of_largest);
}

TEST(Model, ReferenceBackendAppliesTheReluMaskInTheNextGradInput) {
  expect_fused_relu_mask_matches(conv_backend::reference, torch::kCPU, 0.0);
}

TEST(Model, CustomBackendAppliesTheReluMaskInTheNextGradInput) {
  const auto cuda = kernels::probe_cuda();
  if (!cuda.usable || !torch::cuda::is_available()) GTEST_SKIP() << "no usable CUDA device: " << cuda.reason;
  const testing::cudnn_tf32_scope fp32(false);
  expect_fused_relu_mask_matches(conv_backend::custom, torch::Device(torch::kCUDA, 0), 1.0);
}

TEST(Model, ReferenceBackendGradientsDoNotDependOnThreadCount) {
  torch::manual_seed(8);
  const conv_case c{{37, 32, 26, 26}, {64, 32, 3, 3}, 0, true};
  const auto input = torch::randn(c.input), weight = torch::randn(c.weight), bias = torch::randn({64});
  const auto grad_output = torch::randn({37, 64, 24, 24});
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const auto one = through_seam(conv_backend::reference, c, input, weight, bias, grad_output);
  torch::set_num_threads(2);
  const auto two = through_seam(conv_backend::reference, c, input, weight, bias, grad_output);
  torch::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.output, two.output));
  EXPECT_TRUE(torch::equal(one.grad_input, two.grad_input));
  EXPECT_TRUE(torch::equal(one.grad_weight, two.grad_weight));
  EXPECT_TRUE(torch::equal(one.grad_bias, two.grad_bias));
}

TEST(Model, ConvOpChecksItsArguments) {
  const auto input = torch::randn({2, 3, 8, 8}), weight = torch::randn({4, 3, 3, 3}), bias = torch::randn({4});
  auto message = [](auto&& call) { return testing::error_message<c10::Error>(call); };
  EXPECT_NE(message([&] { conv2d(conv_backend::reference, input.to(torch::kFloat64), weight, bias, 0, false); })
                .find("custom conv2d: input must be float32"),
            std::string::npos);
  EXPECT_NE(message([&] { conv2d(conv_backend::reference, input.transpose(2, 3), weight, bias, 0, false); })
                .find("custom conv2d: input must be contiguous"),
            std::string::npos);
  EXPECT_NE(message([&] { conv2d(conv_backend::reference, input, torch::randn({4, 2, 3, 3}), bias, 0, false); })
                .find("the input has 3 channels but the weight expects 2"),
            std::string::npos);
  EXPECT_NE(message([&] { conv2d(conv_backend::reference, input, weight, torch::randn({5}), 0, false); })
                .find("bias must be [4]"),
            std::string::npos);
  EXPECT_NE(message([&] { conv2d(conv_backend::reference, input, weight, bias, 2, false); })
                .find("only padding 0 and 1 are supported"),
            std::string::npos);
  EXPECT_NE(message([&] {
              conv2d(conv_backend::reference, input, weight, bias, 0, false, kernels::precision::fp32,
                     relu_mask::by_next_layer);
            }).find("by_next_layer needs the ReLU fused"),
            std::string::npos);
  EXPECT_NE(message([&] { conv2d(conv_backend::custom, input, weight, bias, 0, false); })
                .find("conv backend custom runs the CUDA kernels"),
            std::string::npos);
}

// pool_relu_dropout's output and input gradient, for one upstream gradient.
struct pooled {
  torch::Tensor output, grad_input;
};

pooled through_pool_op(const torch::Tensor& input, double drop, const torch::Tensor& grad_output) {
  const auto x = input.clone().requires_grad_();
  const auto output = pool_relu_dropout(x, drop);
  output.backward(grad_output);
  return {output.detach(), x.grad()};
}

// What the op replaces, max_pool2d -> relu -> (the op's own dropout mask, scaled), through autograd.
pooled through_libtorch(const torch::Tensor& input, const torch::Tensor& kept, double drop,
                        const torch::Tensor& grad_output) {
  const auto x = input.clone().requires_grad_();
  const auto output = torch::relu(torch::max_pool2d(x, 2)) * kept.to(torch::kFloat32) * (1.0f / (1.0f - static_cast<float>(drop)));
  output.backward(grad_output);
  return {output.detach(), x.grad()};
}

TEST(Model, PoolReluDropoutWithoutDropoutMatchesLibtorch) {
  torch::manual_seed(11);
  for (const std::vector<std::int64_t> shape : {std::vector<std::int64_t>{64, 64, 24, 24}, {3, 5, 7, 9}, {1, 1, 2, 2}}) {
    // Rounded values make ties in the windows, where the first maximum must win as in max_pool2d.
    const auto input = (torch::randn(shape) * 2).round();
    const auto grad_output = torch::randn({shape[0], shape[1], shape[2] / 2, shape[3] / 2});
    const auto ours = through_pool_op(input, 0.0, grad_output);
    const auto expected = through_libtorch(input, torch::ones_like(grad_output), 0.0, grad_output);
    EXPECT_TRUE(torch::equal(ours.output, expected.output)) << "shape " << c10::str(shape);
    EXPECT_TRUE(torch::equal(ours.grad_input, expected.grad_input)) << "shape " << c10::str(shape);
  }
}

TEST(Model, PoolReluDropoutPropagatesNaNsAsMaxPoolDoes) {
  torch::manual_seed(13);
  // Rows of 12 windows (the vectorised path) and of 4 and 1 (the rest), with NaNs and ties: the
  // window's last NaN wins and propagates, as in max_pool2d, so the gradient takes its route.
  for (const std::vector<std::int64_t> shape : {std::vector<std::int64_t>{4, 8, 24, 24}, {3, 5, 7, 9}, {16, 3, 2, 2}}) {
    auto input = (torch::randn(shape) * 2).round();
    input.masked_fill_(torch::rand(shape) < 0.1, std::numeric_limits<float>::quiet_NaN());
    const auto grad_output = torch::randn({shape[0], shape[1], shape[2] / 2, shape[3] / 2});
    const auto ours = through_pool_op(input, 0.0, grad_output);
    const auto expected = through_libtorch(input, torch::ones_like(grad_output), 0.0, grad_output);
    ASSERT_TRUE(expected.output.isnan().any().item<bool>()) << "shape " << c10::str(shape);
    EXPECT_TRUE(torch::equal(ours.output.isnan(), expected.output.isnan())) << "shape " << c10::str(shape);
    EXPECT_TRUE(torch::equal(ours.output.nan_to_num(0.0), expected.output.nan_to_num(0.0))) << "shape " << c10::str(shape);
    EXPECT_TRUE(torch::equal(ours.grad_input, expected.grad_input)) << "shape " << c10::str(shape);
  }
}

TEST(Model, PoolReluDropoutDropsAtItsRateAndRoutesGradientsThroughKeptValues) {
  torch::manual_seed(12);
  const double drop = 0.25;
  const auto input = torch::randn({64, 64, 24, 24}).abs() + 0.5;  // all positive: only dropout zeroes an output
  const auto grad_output = torch::randn({64, 64, 12, 12});
  const auto ours = through_pool_op(input, drop, grad_output);
  const auto kept = ours.output.ne(0);
  const double dropped = 1.0 - kept.to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(dropped, drop, 0.005) << "over " << kept.numel() << " elements";
  const auto expected = through_libtorch(input, kept, drop, grad_output);
  EXPECT_TRUE(torch::equal(ours.output, expected.output));
  EXPECT_TRUE(torch::equal(ours.grad_input, expected.grad_input));
}

TEST(Model, PoolReluDropoutMaskFollowsTheGeneratorNotTheThreadCount) {
  const auto input = torch::rand({16, 64, 24, 24}) + 0.1;
  const auto grad_output = torch::randn({16, 64, 12, 12});
  // Two threads split the planes between them (the trainer is compiled with OpenMP, as LibTorch is).
  auto run_with = [&](std::uint64_t seed, int threads) {
    const int before = torch::get_num_threads();
    torch::set_num_threads(threads);
    torch::manual_seed(seed);
    auto result = through_pool_op(input, 0.5, grad_output);
    torch::set_num_threads(before);
    return result;
  };
  const auto first = run_with(3, 1);
  const auto two_threads = run_with(3, 2);
  EXPECT_TRUE(torch::equal(first.output, two_threads.output));
  EXPECT_TRUE(torch::equal(first.grad_input, two_threads.grad_input));
  EXPECT_FALSE(torch::equal(first.output, run_with(4, 1).output));
}

TEST(Model, PoolReluDropoutChecksItsArguments) {
  auto message = [](auto&& call) { return testing::error_message<c10::Error>(call); };
  EXPECT_NE(message([] { pool_relu_dropout(torch::randn({2, 3, 4, 4}, torch::kFloat64), 0.0); })
                .find("pool_relu_dropout: input must be float32"),
            std::string::npos);
  EXPECT_NE(message([] { pool_relu_dropout(torch::randn({3, 4, 4}), 0.0); }).find("must be [N, C, H, W]"),
            std::string::npos);
  EXPECT_NE(message([] { pool_relu_dropout(torch::randn({1, 1, 4, 4}), 1.0); }).find("drop probability must be in [0, 1)"),
            std::string::npos);
}

}  // namespace
}  // namespace trackbench::trainer
