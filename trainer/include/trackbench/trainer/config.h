#pragma once
// A run's configuration: what affects its result, parsed from and validated against the
// train command's flags, and the device it asks for.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "trackbench/kernels/precision.h"
#include "trackbench/trainer/model.h"

namespace trackbench::trainer {

enum class optimizer_kind { adam, sgd };
enum class device_kind { automatic, cpu, cuda };

optimizer_kind parse_optimizer(const std::string& name);  // throws input_error
std::string to_string(optimizer_kind kind);
device_kind parse_device(const std::string& name);  // auto, cpu, cuda; throws input_error
std::string to_string(device_kind kind);
// kernels::parse_precision for the --precision flag; throws input_error naming it.
kernels::precision parse_precision_flag(const std::string& name);

// Everything that affects the result of a run.
struct train_config {
  std::string dataset = "mnist-sample";
  std::optional<std::filesystem::path> data_dir;
  conv_backend conv = conv_backend::cudnn;
  // --conv custom_vN: the custom CUDA kernels' version (kernels/conv2d.h); only custom reads it.
  int conv_version = kernels::conv2d_default_version;
  optimizer_kind optimizer = optimizer_kind::adam;
  double learning_rate = 1e-3;
  double momentum = 0.9;  // SGD only
  double weight_decay = 0.0;
  bool one_cycle = false;  // one-cycle learning rate: warm up to learning_rate, then anneal
  std::int64_t batch_size = 64;
  std::int64_t eval_batch_size = 1000;
  int epochs = 10;
  std::uint64_t seed = 1;
  int threads = 0;  // CPU threads; 0: every hardware thread
  bool deterministic = false;
  device_kind device = device_kind::automatic;
  double validation_fraction = 0.1;
  // The arithmetic of cuDNN, cuBLAS and the custom kernels on the GPU; tf32 needs a GPU.
  kernels::precision precision = kernels::precision::fp32;
  // --cuda-graphs: on CUDA, capture each step's shape into a CUDA graph and replay it
  // (trainer::uses_cuda_graphs says when it applies); ignored on the CPU. Off by default until a
  // committed GPU result shows graph runs bitwise equal to eager runs, and faster.
  bool cuda_graphs = false;
};

// Throws input_error naming the flag of the first bad value.
void validate(const train_config& config);

// The device a run trains on; throws input_error when CUDA is asked for and unusable.
torch::Device resolve_device(device_kind kind);

}  // namespace trackbench::trainer
