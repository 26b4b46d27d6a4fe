#include "trackbench/trainer/model.h"

#include <algorithm>

#include "conv_op.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::trainer {

conv_backend parse_conv_backend(const std::string& name) {
  if (name == "cudnn") return conv_backend::cudnn;
  if (name == "custom") return conv_backend::custom;
  if (name == "reference") return conv_backend::reference;
  std::string names;
  for (const auto& known : conv_backend_names()) names += (names.empty() ? "" : ", ") + known;
  throw input_error("--conv: unknown backend '" + name + "'; expected one of " + names);
}

std::string to_string(conv_backend backend) {
  switch (backend) {
    case conv_backend::cudnn:
      return "cudnn";
    case conv_backend::custom:
      return "custom";
    case conv_backend::reference:
      return "reference";
  }
  return "unknown";
}

std::vector<std::string> conv_backend_names() { return {"cudnn", "custom", "reference"}; }

namespace {
constexpr const char* custom_version_prefix = "custom_v";
}

std::vector<std::string> conv_names() {
  std::vector<std::string> names{"cudnn", "custom"};
  for (int v = 1; v <= kernels::conv2d_version_count; ++v) names.push_back(custom_version_prefix + std::to_string(v));
  names.push_back("reference");
  return names;
}

conv_choice parse_conv(const std::string& name) {
  for (int v = 1; v <= kernels::conv2d_version_count; ++v) {
    if (name == custom_version_prefix + std::to_string(v)) return {conv_backend::custom, v};
  }
  const auto names = conv_names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    throw input_error("--conv: unknown backend '" + name + "'; expected one of " + known +
                      " (custom_vN: version N of the custom kernels; custom: the default, version " +
                      std::to_string(kernels::conv2d_default_version) + ")");
  }
  return {parse_conv_backend(name), kernels::conv2d_default_version};
}

std::string conv_name(conv_backend backend, int kernel_version) {
  if (backend != conv_backend::custom) return to_string(backend);
  return custom_version_prefix + std::to_string(kernel_version == 0 ? kernels::conv2d_default_version : kernel_version);
}

torch::Tensor conv2d(conv_backend backend, const torch::Tensor& input, const torch::Tensor& weight,
                     const torch::Tensor& bias, std::int64_t padding, bool relu, kernels::precision precision,
                     relu_mask mask, int kernel_version) {
  switch (backend) {
    case conv_backend::cudnn: {
      auto output = torch::conv2d(input, weight, bias, /*stride=*/1, padding);
      return relu ? torch::relu(output) : output;
    }
    case conv_backend::custom:
      TORCH_CHECK(input.is_cuda(), "conv backend custom runs the CUDA kernels; CPU tensors need --conv reference");
      return custom_conv2d(input, weight, bias, padding, relu, precision, mask, kernel_version);
    case conv_backend::reference:
      TORCH_CHECK(input.is_cpu(), "conv backend reference runs on the CPU; CUDA tensors need --conv custom");
      return custom_conv2d(input, weight, bias, padding, relu, precision, mask, kernel_version);
  }
  throw input_error("conv backend " + std::to_string(static_cast<int>(backend)) + " is not available");
}

digit_cnn_impl::digit_cnn_impl(conv_backend backend, kernels::precision precision, int kernel_version)
    : backend_(backend), precision_(precision), kernel_version_(kernel_version) {
  // The Conv2d modules own the parameters and their default initialisation; forward()
  // routes the arithmetic through the seam instead of their own forward().
  conv1_ = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3)));
  conv2_ = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3)));
  dropout1_ = register_module("dropout1", torch::nn::Dropout(0.25));
  dropout2_ = register_module("dropout2", torch::nn::Dropout(0.5));
  fc1_ = register_module("fc1", torch::nn::Linear(9216, 128));
  fc2_ = register_module("fc2", torch::nn::Linear(128, 10));
}

torch::Tensor digit_cnn_impl::forward(torch::Tensor x) {
  // conv1's ReLU mask goes into conv2's grad-input. conv2's ReLU comes after the pooling: they
  // commute, and it then touches a quarter of the values.
  x = conv2d(backend_, x, conv1_->weight, conv1_->bias, 0, /*relu=*/true, precision_, relu_mask::by_next_layer,
             kernel_version_);
  x = conv2d(backend_, x, conv2_->weight, conv2_->bias, 0, /*relu=*/false, precision_, relu_mask::from_input,
             kernel_version_);
  if (x.is_cpu()) {
    x = pool_relu_dropout(x, is_training() ? dropout1_->options.p() : 0.0);
  } else {
    x = dropout1_(torch::relu(torch::max_pool2d(x, 2)));
  }
  x = torch::relu(fc1_(torch::flatten(x, 1)));
  x = fc2_(dropout2_(x));
  return torch::log_softmax(x, 1);
}

}  // namespace trackbench::trainer
