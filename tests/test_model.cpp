#include <gtest/gtest.h>

#include "support/error_message.h"
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
    const auto output = conv2d(conv_backend::cudnn, input, weight, bias, padding);
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

}  // namespace
}  // namespace trackbench::trainer
