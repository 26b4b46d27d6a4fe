#include <stdexcept>
#include <string>

#include "conv2d_device.cuh"
#include "conv2d_launchers.h"

// The dispatch table over the kernel versions (conv2d_v<N>.cu), the public entry points, and
// the ReLU-mask pass v1 and v2 share.
namespace trackbench::kernels {
namespace detail {
namespace {

// v1 and v2 take the ReLU mask of grad-input as a second pass over the result.
__global__ void conv2d_relu_mask_kernel(float* __restrict__ grad_input, const float* __restrict__ relu_input,
                                        index_t count) {
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count;
       e += static_cast<index_t>(gridDim.x) * blockDim.x) {
    if (!(relu_input[e] > 0.0f)) grad_input[e] = 0.0f;
  }
}

}  // namespace

void apply_relu_mask(float* grad_input, const float* relu_input, const conv2d_shape& s, cudaStream_t stream) {
  if (relu_input == nullptr) return;
  const index_t count = s.batch * s.in_channels * s.height * s.width;
  conv2d_relu_mask_kernel<<<elementwise_blocks(count), elementwise_threads, 0, stream>>>(grad_input, relu_input, count);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace detail

namespace {

cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

// ---- the dispatch table: one row per version, in version order ----

struct version_launchers {
  void (*forward)(const float*, const float*, const float*, float*, const conv2d_shape&, bool, cudaStream_t, precision);
  void (*backward_input)(const float*, const float*, float*, const conv2d_shape&, cudaStream_t, precision,
                         const float*);
  std::int64_t (*workspace_floats)(const conv2d_shape&, precision);
  void (*backward_weight)(const float*, const float*, float*, float*, float*, const conv2d_shape&, cudaStream_t,
                          precision);
};

constexpr version_launchers versions[] = {
    {detail::forward_v1, detail::backward_input_v1, detail::workspace_v1, detail::backward_weight_v1},
    {detail::forward_v2, detail::backward_input_v2, detail::workspace_v2, detail::backward_weight_v2},
    {detail::forward_v3, detail::backward_input_v3, detail::workspace_v3, detail::backward_weight_v3},
};
static_assert(sizeof(versions) / sizeof(versions[0]) == conv2d_version_count,
              "one dispatch row per kernel version");

const version_launchers& launchers(int version) {
  if (version == 0) version = conv2d_default_version;
  if (version < 1 || version > conv2d_version_count) {
    std::string known;
    for (int v = 1; v <= conv2d_version_count; ++v) {
      known += (v > 1 ? ", " : "") + std::to_string(v) + " (" + conv2d_version_name(v) + ")";
    }
    throw std::invalid_argument("conv2d: unknown kernel version " + std::to_string(version) + "; versions are " +
                                known + ", or 0 for the default (" + std::to_string(conv2d_default_version) + ")");
  }
  return versions[version - 1];
}

}  // namespace

void conv2d_forward_cuda(const float* input, const float* weight, const float* bias, float* output,
                         const conv2d_shape& shape, bool relu, void* stream, int version, precision math) {
  check_conv2d_shape(shape);
  launchers(version).forward(input, weight, bias, output, shape, relu, as_stream(stream), math);
}

void conv2d_backward_input_cuda(const float* grad_output, const float* weight, float* grad_input,
                                const conv2d_shape& shape, void* stream, int version, precision math,
                                const float* relu_input) {
  check_conv2d_shape(shape);
  launchers(version).backward_input(grad_output, weight, grad_input, shape, as_stream(stream), math, relu_input);
}

std::int64_t conv2d_backward_weight_workspace_floats(const conv2d_shape& shape, int version, precision math) {
  check_conv2d_shape(shape);
  return launchers(version).workspace_floats(shape, math);
}

void conv2d_backward_weight_cuda(const float* input, const float* grad_output, float* grad_weight, float* grad_bias,
                                 float* workspace, const conv2d_shape& shape, void* stream, int version,
                                 precision math) {
  check_conv2d_shape(shape);
  const auto& launch = launchers(version);
  if (workspace == nullptr && launch.workspace_floats(shape, math) > 0) {
    throw std::invalid_argument("conv2d_backward_weight_cuda: version " + std::to_string(version) +
                                " needs a workspace of conv2d_backward_weight_workspace_floats() floats");
  }
  launch.backward_weight(input, grad_output, grad_weight, grad_bias, workspace, shape, as_stream(stream), math);
}

}  // namespace trackbench::kernels
