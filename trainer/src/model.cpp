#include "trackbench/trainer/model.h"

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

torch::Tensor conv2d(conv_backend backend, const torch::Tensor& input, const torch::Tensor& weight,
                     const torch::Tensor& bias, std::int64_t padding, bool relu, kernels::precision precision) {
  switch (backend) {
    case conv_backend::cudnn: {
      auto output = torch::conv2d(input, weight, bias, /*stride=*/1, padding);
      return relu ? torch::relu(output) : output;
    }
    case conv_backend::custom:
      TORCH_CHECK(input.is_cuda(), "conv backend custom runs the CUDA kernels; CPU tensors need --conv reference");
      return custom_conv2d(input, weight, bias, padding, relu, precision);
    case conv_backend::reference:
      TORCH_CHECK(input.is_cpu(), "conv backend reference runs on the CPU; CUDA tensors need --conv custom");
      return custom_conv2d(input, weight, bias, padding, relu, precision);
  }
  throw input_error("conv backend " + std::to_string(static_cast<int>(backend)) + " is not available");
}

digit_cnn_impl::digit_cnn_impl(conv_backend backend, kernels::precision precision)
    : backend_(backend), precision_(precision) {
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
  x = conv2d(backend_, x, conv1_->weight, conv1_->bias, 0, /*relu=*/true, precision_);
  // conv2's ReLU comes after the pooling: they commute, and it then touches a quarter of the values.
  x = conv2d(backend_, x, conv2_->weight, conv2_->bias, 0, /*relu=*/false, precision_);
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
