#pragma once
// 2-D convolution for the digit CNN and LeNet-style models: NCHW float32, stride 1,
// padding 0 or 1, square 3x3 or 5x5 kernels. Forward (with a fused bias and optional
// ReLU), the gradient with respect to the input, and the gradients with respect to the
// weights and the bias. Each CUDA version sits beside a plain CPU reference of the same
// operation. Everything here is deterministic by construction: no floating-point atomics,
// every sum is taken in a fixed order, so the same inputs give bitwise-identical outputs.
//
// Definitions (p = padding, K = kernel size, out-of-range input reads as zero):
//   output[n,k,y,x]      = bias[k] + sum_{c,i,j} input[n,c,y+i-p,x+j-p] * weight[k,c,i,j]   (then ReLU if asked)
//   grad_input[n,c,v,u]  = sum_{k,i,j} grad_output[n,k,v-i+p,u-j+p] * weight[k,c,i,j]
//   grad_weight[k,c,i,j] = sum_{n,y,x} grad_output[n,k,y,x] * input[n,c,y+i-p,x+j-p]
//   grad_bias[k]         = sum_{n,y,x} grad_output[n,k,y,x]
//
// How the CUDA versions are parallelised, and why:
//   v1 (naive): one thread per element of the result, summing its whole definition in a
//     loop from global memory. Obviously right; the baseline the others are checked against.
//   v2 (tiled, the default): forward and grad-input share one kernel, since grad-input is
//     a convolution of grad_output, padded by K-1-p, with the kernel flipped and its channel
//     axes swapped. A block takes whole output rows of one image for 16 output channels;
//     each thread owns one output position and keeps its 16 sums in registers, so every
//     input value read from shared memory feeds 16 multiply-adds, and the 16 weights of one
//     tap are one broadcast read. Input channels stream through shared memory 8 at a time.
//     grad-weight runs in two stages: a block per (k, c, slice of 32 images) sums its
//     K*K products over positions (a fixed-order warp shuffle tree, then warps in order)
//     into a partial buffer; a second kernel adds the slices in order. grad-bias is the
//     same with one "tap". Slices are fixed in size, so the order of every sum depends on
//     the shape only, never on the GPU or the launch.
//   v3 (implicit GEMM): every pass as one matrix product whose operands are gathered from
//     the tensors on the fly (conv2d_v3_gemm.cuh explains the tiles). Forward: M = N*OH*OW rows,
//     N = K columns, a reduction over C*R*R. grad-input: the same kernel on grad_output with
//     the flipped kernel (see v2), optionally masked by the layer input's ReLU. grad-weight
//     and grad-bias: a product K x (C*R*R + 1) reduced over N*OH*OW (the bias is the column
//     of ones), split into fixed slices of rows whose partial products a second kernel adds
//     in slice order. Two arithmetic paths: fp32 (CUDA cores, register-blocked outer
//     products) and tf32 (tensor cores, mma.sync m16n8k8, inputs rounded once with
//     cvt.rna.tf32.f32, FP32 accumulation). Predicated tiles cover every shape
//     check_conv2d_shape accepts. Where the grad-weight product has fewer than 32 rows
//     (C*R*R + 1 < 32, as in conv1: 10) a GEMM tile would sit mostly idle and the pass is
//     bound by reading grad_output, so v3 streams it instead: a warp per few output channels
//     and slice of rows, one pass over grad_output, fp32 at either precision. The slices of
//     both paths are added by a warp each, in a fixed shuffle-tree order.
// v2 is the default: on an H200 it matched the references and was bitwise deterministic,
// though slower than cuDNN on conv2. v3 is selectable by number; it becomes the default only
// after a GPU run has checked it (kernels/dev, the CUDA tests).
//
// Precision (precision.h): fp32 is IEEE single precision throughout. tf32 asks for tensor
// cores: v3 then rounds both operands of every product to TF32 (10-bit mantissa) and sums in
// FP32. v1 and v2 have no tensor-core path and compute fp32 whichever is asked: tf32 permits
// TF32 rounding, it does not require it, so a run at tf32 can still use them.
#include <cstdint>
#include <string>

#include "trackbench/kernels/cuda_error.h"
#include "trackbench/kernels/precision.h"

namespace trackbench::kernels {

struct conv2d_shape {
  std::int64_t batch = 0;
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  std::int64_t height = 0;  // of the input
  std::int64_t width = 0;
  std::int64_t kernel_size = 0;
  std::int64_t padding = 0;

  std::int64_t out_height() const { return height + 2 * padding - kernel_size + 1; }
  std::int64_t out_width() const { return width + 2 * padding - kernel_size + 1; }
};

// The largest input height and width the CUDA tiles are sized for.
constexpr std::int64_t conv2d_max_image_size = 128;

// Throws std::invalid_argument naming the first unsupported or inconsistent field.
void check_conv2d_shape(const conv2d_shape& shape);
std::string describe(const conv2d_shape& shape);  // "N=64 C=32 K=64 HxW=26x26 kernel=3 padding=0"

// CPU references: plain loops, single-threaded, results overwritten (not accumulated).
// `bias` may be nullptr in the forward (no bias).
void conv2d_forward_reference(const float* input, const float* weight, const float* bias, float* output,
                              const conv2d_shape& shape, bool relu);
void conv2d_backward_input_reference(const float* grad_output, const float* weight, float* grad_input,
                                     const conv2d_shape& shape);
void conv2d_backward_weight_reference(const float* input, const float* grad_output, float* grad_weight,
                                      float* grad_bias, const conv2d_shape& shape);

// The CUDA versions. Pointers are device memory; `stream` is a cudaStream_t (nullptr: the
// default stream); version 0 picks the default. Throw cuda_error from a failed launch,
// std::invalid_argument for an unsupported shape or version (the message names the valid
// versions), and std::runtime_error in a build without CUDA.
constexpr int conv2d_version_count = 3;
constexpr int conv2d_default_version = 2;
// "naive", "tiled", "implicit GEMM"; throws std::invalid_argument outside 1..conv2d_version_count.
std::string conv2d_version_name(int version);

void conv2d_forward_cuda(const float* input, const float* weight, const float* bias, float* output,
                         const conv2d_shape& shape, bool relu, void* stream, int version = 0,
                         precision math = precision::fp32);
// `relu_input` (optional): the layer's input, shaped as grad_input. When given, the result is
// masked by the ReLU that produced that input: grad_input *= (relu_input > 0). v3 fuses the
// mask into its epilogue; v1 and v2 apply it in a second, elementwise kernel.
void conv2d_backward_input_cuda(const float* grad_output, const float* weight, float* grad_input,
                                const conv2d_shape& shape, void* stream, int version = 0,
                                precision math = precision::fp32, const float* relu_input = nullptr);
// `workspace` holds conv2d_backward_weight_workspace_floats(shape, version, math) floats of
// device memory for the partial sums (none for v1: pass nullptr).
std::int64_t conv2d_backward_weight_workspace_floats(const conv2d_shape& shape, int version = 0,
                                                     precision math = precision::fp32);
void conv2d_backward_weight_cuda(const float* input, const float* grad_output, float* grad_weight, float* grad_bias,
                                 float* workspace, const conv2d_shape& shape, void* stream, int version = 0,
                                 precision math = precision::fp32);

}  // namespace trackbench::kernels
