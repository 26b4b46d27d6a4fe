#pragma once
// Each kernel version's launchers (conv2d_v<N>.cu), one row of conv2d.cu's dispatch table per
// version, and the ReLU-mask pass v1 and v2 share (conv2d.cu).
#include <cuda_runtime.h>

#include <cstdint>

#include "trackbench/kernels/conv2d.h"
#include "trackbench/kernels/precision.h"

namespace trackbench::kernels::detail {

void forward_v1(const float* input, const float* weight, const float* bias, float* output, const conv2d_shape& s,
                bool relu, cudaStream_t stream, precision);
void backward_input_v1(const float* grad_output, const float* weight, float* grad_input, const conv2d_shape& s,
                       cudaStream_t stream, precision, const float* relu_input);
std::int64_t workspace_v1(const conv2d_shape&, precision);
void backward_weight_v1(const float* input, const float* grad_output, float* grad_weight, float* grad_bias, float*,
                        const conv2d_shape& s, cudaStream_t stream, precision);

void forward_v2(const float* input, const float* weight, const float* bias, float* output, const conv2d_shape& s,
                bool relu, cudaStream_t stream, precision);
void backward_input_v2(const float* grad_output, const float* weight, float* grad_input, const conv2d_shape& s,
                       cudaStream_t stream, precision, const float* relu_input);
std::int64_t workspace_v2(const conv2d_shape& s, precision);
void backward_weight_v2(const float* input, const float* grad_output, float* grad_weight, float* grad_bias,
                        float* workspace, const conv2d_shape& s, cudaStream_t stream, precision);

void forward_v3(const float* input, const float* weight, const float* bias, float* output, const conv2d_shape& s,
                bool relu, cudaStream_t stream, precision math);
void backward_input_v3(const float* grad_output, const float* weight, float* grad_input, const conv2d_shape& s,
                       cudaStream_t stream, precision math, const float* relu_input);
std::int64_t workspace_v3(const conv2d_shape& s, precision);
void backward_weight_v3(const float* input, const float* grad_output, float* grad_weight, float* grad_bias,
                        float* workspace, const conv2d_shape& s, cudaStream_t stream, precision math);

// Masks grad_input (the layer's input shape) where relu_input <= 0; nothing when relu_input is nullptr.
void apply_relu_mask(float* grad_input, const float* relu_input, const conv2d_shape& s, cudaStream_t stream);

}  // namespace trackbench::kernels::detail
