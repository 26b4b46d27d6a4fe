#pragma once
// The project's own convolution as a LibTorch autograd op (stride 1, fused bias and optional
// ReLU): the CPU references from kernels/ compute it for CPU tensors, the CUDA kernels for
// CUDA tensors, on LibTorch's current stream.
#include <torch/torch.h>

#include "trackbench/kernels/precision.h"

namespace trackbench::trainer {

// `precision` is the run's; the CUDA kernels compute at it (the CPU references in fp32).
torch::Tensor custom_conv2d(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias,
                            std::int64_t padding, bool relu, kernels::precision precision);

}  // namespace trackbench::trainer
