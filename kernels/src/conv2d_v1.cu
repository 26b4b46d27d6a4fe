// ---- v1: one thread per result element, straight from the definitions in conv2d.h ----
#include "conv2d_device.cuh"
#include "conv2d_launchers.h"

namespace trackbench::kernels::detail {
namespace {

__global__ void conv2d_forward_v1_kernel(const float* __restrict__ input, const float* __restrict__ weight,
                                         const float* __restrict__ bias, float* __restrict__ output, int C, int K,
                                         int H, int W, int R, int P, int OH, int OW, index_t count, bool relu) {
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count;
       e += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const int x = static_cast<int>(e % OW), y = static_cast<int>(e / OW % OH), k = static_cast<int>(e / OW / OH % K);
    const index_t n = e / OW / OH / K;
    float sum = bias != nullptr ? bias[k] : 0.0f;
    for (int c = 0; c < C; ++c) {
      for (int i = 0; i < R; ++i) {
        const int iy = y + i - P;
        if (iy < 0 || iy >= H) continue;
        for (int j = 0; j < R; ++j) {
          const int ix = x + j - P;
          if (ix < 0 || ix >= W) continue;
          sum += input[((n * C + c) * H + iy) * W + ix] * weight[((static_cast<index_t>(k) * C + c) * R + i) * R + j];
        }
      }
    }
    output[e] = relu ? fmaxf(sum, 0.0f) : sum;
  }
}

__global__ void conv2d_backward_input_v1_kernel(const float* __restrict__ grad_output, const float* __restrict__ weight,
                                                float* __restrict__ grad_input, int C, int K, int H, int W, int R, int P,
                                                int OH, int OW, index_t count) {
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count;
       e += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const int u = static_cast<int>(e % W), v = static_cast<int>(e / W % H), c = static_cast<int>(e / W / H % C);
    const index_t n = e / W / H / C;
    float sum = 0.0f;
    for (int k = 0; k < K; ++k) {
      for (int i = 0; i < R; ++i) {
        const int y = v - i + P;
        if (y < 0 || y >= OH) continue;
        for (int j = 0; j < R; ++j) {
          const int x = u - j + P;
          if (x < 0 || x >= OW) continue;
          sum += grad_output[((n * K + k) * OH + y) * OW + x] * weight[((static_cast<index_t>(k) * C + c) * R + i) * R + j];
        }
      }
    }
    grad_input[e] = sum;
  }
}

// One thread per weight (and per bias, with tap == R*R), summing over images and positions in order.
__global__ void conv2d_backward_weight_v1_kernel(const float* __restrict__ input, const float* __restrict__ grad_output,
                                                 float* __restrict__ grad_weight, float* __restrict__ grad_bias, int N,
                                                 int C, int K, int H, int W, int R, int P, int OH, int OW) {
  const index_t weights = static_cast<index_t>(K) * C * R * R;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < weights + K;
       e += static_cast<index_t>(gridDim.x) * blockDim.x) {
    float sum = 0.0f;
    if (e >= weights) {
      const index_t k = e - weights;
      for (index_t n = 0; n < N; ++n) {
        for (int p = 0; p < OH * OW; ++p) sum += grad_output[(n * K + k) * OH * OW + p];
      }
      grad_bias[k] = sum;
      continue;
    }
    const int j = static_cast<int>(e % R), i = static_cast<int>(e / R % R), c = static_cast<int>(e / R / R % C);
    const index_t k = e / R / R / C;
    for (index_t n = 0; n < N; ++n) {
      for (int y = 0; y < OH; ++y) {
        const int iy = y + i - P;
        if (iy < 0 || iy >= H) continue;
        for (int x = 0; x < OW; ++x) {
          const int ix = x + j - P;
          if (ix < 0 || ix >= W) continue;
          sum += grad_output[((n * K + k) * OH + y) * OW + x] * input[((n * C + c) * H + iy) * W + ix];
        }
      }
    }
    grad_weight[e] = sum;
  }
}

}  // namespace

// No tensor-core path: v1 computes fp32 whatever `precision` asks.

void forward_v1(const float* input, const float* weight, const float* bias, float* output, const conv2d_shape& s,
                bool relu, cudaStream_t stream, precision) {
  const dims d(s);
  const index_t count = s.batch * d.K * d.OH * d.OW;
  conv2d_forward_v1_kernel<<<elementwise_blocks(count), elementwise_threads, 0, stream>>>(
      input, weight, bias, output, d.C, d.K, d.H, d.W, d.R, d.P, d.OH, d.OW, count, relu);
  CUDA_CHECK(cudaGetLastError());
}

void backward_input_v1(const float* grad_output, const float* weight, float* grad_input, const conv2d_shape& s,
                       cudaStream_t stream, precision, const float* relu_input) {
  const dims d(s);
  const index_t count = s.batch * d.C * d.H * d.W;
  conv2d_backward_input_v1_kernel<<<elementwise_blocks(count), elementwise_threads, 0, stream>>>(
      grad_output, weight, grad_input, d.C, d.K, d.H, d.W, d.R, d.P, d.OH, d.OW, count);
  CUDA_CHECK(cudaGetLastError());
  apply_relu_mask(grad_input, relu_input, s, stream);
}

std::int64_t workspace_v1(const conv2d_shape&, precision) { return 0; }

void backward_weight_v1(const float* input, const float* grad_output, float* grad_weight, float* grad_bias, float*,
                        const conv2d_shape& s, cudaStream_t stream, precision) {
  const dims d(s);
  const index_t count = static_cast<index_t>(d.K) * d.C * d.R * d.R + d.K;
  conv2d_backward_weight_v1_kernel<<<elementwise_blocks(count), elementwise_threads, 0, stream>>>(
      input, grad_output, grad_weight, grad_bias, d.N, d.C, d.K, d.H, d.W, d.R, d.P, d.OH, d.OW);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace trackbench::kernels::detail
