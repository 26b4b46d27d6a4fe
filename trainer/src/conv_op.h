#pragma once
// The project's own convolution as a LibTorch autograd op (stride 1, fused bias and optional
// ReLU): the CPU references from kernels/ compute it for CPU tensors, the CUDA kernels for
// CUDA tensors, on LibTorch's current stream.
#include <torch/torch.h>

#include "trackbench/kernels/precision.h"
#include "trackbench/trainer/model.h"

namespace trackbench::trainer {

// `precision` is the run's; the CUDA kernels compute at it (the CPU references in fp32). `mask`
// says where ReLU masks are applied in backward (trackbench/trainer/model.h); `kernel_version`
// picks the CUDA kernels' version (0: the default).
torch::Tensor custom_conv2d(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias,
                            std::int64_t padding, bool relu, kernels::precision precision, relu_mask mask,
                            int kernel_version);

}  // namespace trackbench::trainer
