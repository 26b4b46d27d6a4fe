#pragma once
// The kernels suite's shared pieces: the digit CNN's conv layers, the three passes and the
// FLOP and byte model behind their counters, the tensors a pass works on, and LibTorch's
// convolution for a pass (the same calls on the CPU and on the GPU).
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "trackbench/kernels/conv2d.h"

namespace trackbench::bench {

// 3x3 kernels, stride 1, no padding, as in the model.
struct conv_layer {
  const char* name;
  std::int64_t in_channels, out_channels, size;  // size: the input's height and width
};
inline constexpr conv_layer conv_layers[] = {{"conv1", 1, 32, 28}, {"conv2", 32, 64, 26}};
inline constexpr std::int64_t conv_batches[] = {1, 128, 1024};

// forward: output = conv(input, weight) + bias (no ReLU: cuDNN's convolution has none).
// backward_input: grad_input from grad_output and weight (training skips it for conv1, whose
//   input is the images; it is measured anyway, as a kernel).
// backward_weight: grad_weight and grad_bias from input and grad_output (the project's kernels
//   compute both in one pass, so every backend is asked for both).
enum class conv_pass { forward, backward_input, backward_weight };
inline constexpr conv_pass conv_passes[] = {conv_pass::forward, conv_pass::backward_input, conv_pass::backward_weight};
const char* to_string(conv_pass pass);

kernels::conv2d_shape shape_of(const conv_layer& layer, std::int64_t batch);

// "conv/<layer>/<pass>/<backend>/<precision>"; Google Benchmark appends "/<batch>" and
// "/manual_time". The CPU backends compute in fp32 only; the GPU ones run at both precisions.
std::string conv_benchmark_name(const conv_layer& layer, conv_pass pass, const std::string& backend,
                                kernels::precision math);

// FLOP: 2 x the multiply-adds, N*K*OH*OW*C*3*3, the same for each pass (each product of the
// convolution's definition is taken once, whichever way it is summed); the bias and its
// gradient are left out (N*K*OH*OW additions, under 1/(2*C*9) of the rest).
double conv_flops(const kernels::conv2d_shape& shape);
// Bytes: each tensor the pass must read and write, once, as float32. forward reads input,
// weight and bias and writes output; backward_input reads grad_output and weight and writes
// grad_input; backward_weight reads input and grad_output and writes grad_weight and grad_bias.
// A lower bound on the memory traffic, so bytes/s is comparable across backends.
double conv_bytes(const kernels::conv2d_shape& shape, conv_pass pass);
// FLOP/s and bytes/s of one pass per iteration, over the benchmark's time.
void set_conv_counters(benchmark::State& state, const kernels::conv2d_shape& shape, conv_pass pass);

// Every tensor a pass reads or writes, random (weights scaled as the model initialises them).
struct conv_tensors {
  torch::Tensor input, weight, bias, output, grad_output, grad_input, grad_weight, grad_bias;
};
conv_tensors make_conv_tensors(const kernels::conv2d_shape& shape, const torch::Device& device);

// LibTorch's convolution for `pass`, called as autograd calls it: at::convolution, and
// at::convolution_backward with the output mask of the pass (the input gradient alone, or the
// weight and bias gradients alone). Results land in fresh tensors from LibTorch's allocator,
// as in training.
void libtorch_conv(conv_pass pass, const conv_tensors& t);

// The GPU backends (bench_kernels_gpu.cpp, built only with CUDA); registers nothing without a
// usable GPU.
void register_gpu_conv_benchmarks();

}  // namespace trackbench::bench
