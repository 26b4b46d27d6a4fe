#include "trackbench/trainer/config.h"

#include <cmath>
#include <stdexcept>

#include "trackbench/kernels/cuda_device.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::trainer {

optimizer_kind parse_optimizer(const std::string& name) {
  if (name == "adam") return optimizer_kind::adam;
  if (name == "sgd") return optimizer_kind::sgd;
  throw input_error("--optimizer: unknown optimizer '" + name + "'; expected adam or sgd");
}

std::string to_string(optimizer_kind kind) { return kind == optimizer_kind::sgd ? "sgd" : "adam"; }

device_kind parse_device(const std::string& name) {
  if (name == "auto") return device_kind::automatic;
  if (name == "cpu") return device_kind::cpu;
  if (name == "cuda") return device_kind::cuda;
  throw input_error("--device: unknown device '" + name + "'; expected auto, cpu or cuda");
}

std::string to_string(device_kind kind) {
  switch (kind) {
    case device_kind::cpu:
      return "cpu";
    case device_kind::cuda:
      return "cuda";
    case device_kind::automatic:
      break;
  }
  return "auto";
}

kernels::precision parse_precision_flag(const std::string& name) {
  try {
    return kernels::parse_precision(name);
  } catch (const std::invalid_argument& e) {
    throw input_error(std::string("--precision: ") + e.what());
  }
}

void validate(const train_config& config) {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw input_error(message);
  };
  require(std::isfinite(config.learning_rate) && config.learning_rate > 0.0,
          "--lr must be a positive finite number, got " + std::to_string(config.learning_rate));
  require(std::isfinite(config.momentum) && config.momentum >= 0.0 && config.momentum < 1.0,
          "--momentum must be in [0, 1), got " + std::to_string(config.momentum));
  require(std::isfinite(config.weight_decay) && config.weight_decay >= 0.0,
          "--weight-decay must be >= 0, got " + std::to_string(config.weight_decay));
  require(config.conv_version >= 1 && config.conv_version <= kernels::conv2d_version_count,
          "--conv: the custom kernels have versions 1 to " + std::to_string(kernels::conv2d_version_count) + ", got " +
              std::to_string(config.conv_version));
  require(config.batch_size >= 1, "--batch-size must be >= 1, got " + std::to_string(config.batch_size));
  require(config.eval_batch_size >= 1, "--eval-batch-size must be >= 1, got " + std::to_string(config.eval_batch_size));
  require(config.epochs >= 1, "--epochs must be >= 1, got " + std::to_string(config.epochs));
  require(config.threads >= 0, "--threads must be >= 0 (0: all hardware threads), got " + std::to_string(config.threads));
  require(config.validation_fraction >= 0.0 && config.validation_fraction < 1.0,
          "--validation-fraction must be in [0, 1), got " + std::to_string(config.validation_fraction));
}

torch::Device resolve_device(device_kind kind) {
  if (kind == device_kind::cpu) return torch::kCPU;
  const kernels::cuda_report cuda = kernels::probe_cuda();
  const bool usable = cuda.usable && torch::cuda::is_available();
  if (kind == device_kind::automatic) return usable ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (!usable) {
    const std::string reason = cuda.reason.empty() ? "LibTorch cannot use the GPU the runtime reports" : cuda.reason;
    throw input_error("--device cuda: no usable CUDA GPU: " + reason + "; use --device cpu or --device auto");
  }
  return {torch::kCUDA, 0};
}

}  // namespace trackbench::trainer
