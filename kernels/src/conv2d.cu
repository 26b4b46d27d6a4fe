#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda_check.h"
#include "trackbench/kernels/conv2d.h"

namespace trackbench::kernels {
namespace {

using index_t = std::int64_t;

int resolve_version(int version) {
  if (version == 0) return conv2d_default_version;
  if (version < 1 || version > conv2d_version_count) {
    throw std::invalid_argument("conv2d: unknown kernel version " + std::to_string(version) + "; versions are 1.." +
                                std::to_string(conv2d_version_count) + " (0: the default)");
  }
  return version;
}

cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

// Grid-stride launches for the one-thread-per-element kernels: a bounded grid covers any size.
constexpr int elementwise_threads = 256;
unsigned elementwise_blocks(index_t count) {
  return static_cast<unsigned>(std::min<index_t>((count + elementwise_threads - 1) / elementwise_threads, 65535));
}

// ---- v1: one thread per result element, straight from the definitions in conv2d.h ----

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

// ---- v2: shared-memory tiles for forward and grad-input; two-stage grad-weight ----

constexpr int tile_out_channels = 16;  // sums each thread keeps in registers
constexpr int tile_in_channels = 8;    // input channels staged in shared memory at once
constexpr int max_block_threads = 1024;
constexpr std::size_t max_shared_bytes = 48 * 1024;  // what every GPU gives a block without opting in

// Forward when !flipped. When flipped it computes grad-input: `input` is grad_output (C is
// the layer's output channels), K is the layer's input channels, P is kernel-1-padding, and
// the layer's weight [C][K][R][R] is read flipped with its channel axes swapped.
template <int R, bool flipped>
__global__ void __launch_bounds__(max_block_threads)
    conv2d_tiled_v2_kernel(const float* __restrict__ input, const float* __restrict__ weight,
                           const float* __restrict__ bias, float* __restrict__ output, int C, int K, int H, int W,
                           int P, int OH, int OW, int rows, int row_tiles, bool relu) {
  extern __shared__ float shared[];
  const int TW = OW + R - 1;  // the padded input width a row of outputs reads
  const int TH = rows + R - 1;
  float* tile = shared;                                // [tile_in_channels][TH][TW]
  float* taps = shared + tile_in_channels * TH * TW;  // [tile_in_channels][R*R][tile_out_channels]
  const index_t n = blockIdx.x / row_tiles;
  const int y0 = static_cast<int>(blockIdx.x % row_tiles) * rows;
  const int k0 = static_cast<int>(blockIdx.y) * tile_out_channels;
  const int ly = static_cast<int>(threadIdx.x) / OW, lx = static_cast<int>(threadIdx.x) % OW;
  const bool active = ly < rows && y0 + ly < OH;

  float acc[tile_out_channels];
#pragma unroll
  for (int kb = 0; kb < tile_out_channels; ++kb) acc[kb] = 0.0f;

  for (int c0 = 0; c0 < C; c0 += tile_in_channels) {
    const int cn = min(tile_in_channels, C - c0);
    for (int e = threadIdx.x; e < cn * TH * TW; e += blockDim.x) {
      const int c = e / (TH * TW), r = e / TW % TH, s = e % TW;
      const int iy = y0 + r - P, ix = s - P;
      tile[e] = iy >= 0 && iy < H && ix >= 0 && ix < W ? input[((n * C + c0 + c) * H + iy) * W + ix] : 0.0f;
    }
    for (int e = threadIdx.x; e < cn * R * R * tile_out_channels; e += blockDim.x) {
      const int kb = e % tile_out_channels, t = e / tile_out_channels % (R * R), c = e / (tile_out_channels * R * R);
      const index_t k = k0 + kb, cc = c0 + c;
      const int i = t / R, j = t % R;
      float w = 0.0f;
      if (k < K) {
        w = flipped ? weight[((cc * K + k) * R + (R - 1 - i)) * R + (R - 1 - j)] : weight[((k * C + cc) * R + i) * R + j];
      }
      taps[e] = w;
    }
    __syncthreads();
    if (active) {
      for (int c = 0; c < cn; ++c) {
        const float* in = tile + (c * TH + ly) * TW + lx;
        const float* w = taps + c * R * R * tile_out_channels;
#pragma unroll
        for (int i = 0; i < R; ++i) {
#pragma unroll
          for (int j = 0; j < R; ++j) {
            const float v = in[i * TW + j];
#pragma unroll
            for (int kb = 0; kb < tile_out_channels; ++kb) {
              acc[kb] = fmaf(v, w[(i * R + j) * tile_out_channels + kb], acc[kb]);
            }
          }
        }
      }
    }
    __syncthreads();  // the next chunk overwrites the tile
  }
  if (!active) return;
  const int y = y0 + ly;
#pragma unroll
  for (int kb = 0; kb < tile_out_channels; ++kb) {
    const int k = k0 + kb;
    if (k >= K) break;
    float v = acc[kb] + (bias != nullptr ? bias[k] : 0.0f);
    if (relu) v = fmaxf(v, 0.0f);
    output[((n * K + k) * OH + y) * OW + lx] = v;
  }
}

struct tiled_plan {
  int rows = 0;  // output rows per block
  int row_tiles = 0;
  int threads = 0;
  std::size_t shared_bytes = 0;
};

std::size_t tiled_shared_bytes(int rows, int OW, int R) {
  return sizeof(float) * (static_cast<std::size_t>(tile_in_channels) * (rows + R - 1) * (OW + R - 1) +
                          static_cast<std::size_t>(tile_in_channels) * R * R * tile_out_channels);
}

// As many whole output rows per block as fit 1024 threads and the shared memory.
tiled_plan plan_tiled(int OH, int OW, int R) {
  tiled_plan plan;
  plan.rows = std::min(OH, max_block_threads / OW);
  while (plan.rows > 1 && tiled_shared_bytes(plan.rows, OW, R) > max_shared_bytes) --plan.rows;
  plan.row_tiles = (OH + plan.rows - 1) / plan.rows;
  plan.threads = (plan.rows * OW + 31) / 32 * 32;
  plan.shared_bytes = tiled_shared_bytes(plan.rows, OW, R);
  return plan;
}

template <bool flipped>
void launch_tiled_v2(const float* input, const float* weight, const float* bias, float* output, index_t N, int C,
                     int K, int H, int W, int R, int P, bool relu, cudaStream_t stream) {
  const int OH = H + 2 * P - R + 1, OW = W + 2 * P - R + 1;
  const auto plan = plan_tiled(OH, OW, R);
  const dim3 grid(static_cast<unsigned>(N * plan.row_tiles), static_cast<unsigned>((K + tile_out_channels - 1) / tile_out_channels));
  auto kernel = R == 3 ? conv2d_tiled_v2_kernel<3, flipped> : conv2d_tiled_v2_kernel<5, flipped>;
  kernel<<<grid, plan.threads, plan.shared_bytes, stream>>>(input, weight, bias, output, C, K, H, W, P, OH, OW,
                                                            plan.rows, plan.row_tiles, relu);
  CUDA_CHECK(cudaGetLastError());
}

constexpr int reduce_threads = 256;
constexpr int weight_grad_slice = 32;  // images per partial sum: fixed, so the summation order is too

// Sums each of `count` per-thread values over the block in a fixed order (a shuffle tree in
// each warp, then the warps in turn) and has thread t < count write sum t to result[t].
template <int count>
__device__ void block_sum_in_order(const float (&values)[count], float* result) {
  __shared__ float warp_sums[reduce_threads / 32][count];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int t = 0; t < count; ++t) {
    float v = values[t];
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
    if (lane == 0) warp_sums[warp][t] = v;
  }
  __syncthreads();
  if (threadIdx.x < count) {
    float sum = 0.0f;
    for (int w = 0; w < reduce_threads / 32; ++w) sum += warp_sums[w][threadIdx.x];
    result[threadIdx.x] = sum;
  }
}

// Stage 1: block (c, k, slice) writes the R*R sums of its slice to partials[slice][k][c][R][R].
template <int R>
__global__ void __launch_bounds__(reduce_threads)
    conv2d_weight_partials_v2_kernel(const float* __restrict__ input, const float* __restrict__ grad_output,
                                     float* __restrict__ partials, int N, int C, int K, int H, int W, int P, int OH,
                                     int OW) {
  const int c = blockIdx.x, k = blockIdx.y, slice = blockIdx.z;
  float acc[R * R];
#pragma unroll
  for (int t = 0; t < R * R; ++t) acc[t] = 0.0f;
  const int n_end = min(N, (slice + 1) * weight_grad_slice);
  for (index_t n = static_cast<index_t>(slice) * weight_grad_slice; n < n_end; ++n) {
    const float* grad_out = grad_output + (n * K + k) * OH * OW;
    const float* in = input + (n * C + c) * H * W;
    for (int p = threadIdx.x; p < OH * OW; p += reduce_threads) {
      const int y = p / OW, x = p % OW;
      const float g = grad_out[p];
#pragma unroll
      for (int i = 0; i < R; ++i) {
        const int iy = y + i - P;
#pragma unroll
        for (int j = 0; j < R; ++j) {
          const int ix = x + j - P;
          if (iy >= 0 && iy < H && ix >= 0 && ix < W) acc[i * R + j] = fmaf(g, in[iy * W + ix], acc[i * R + j]);
        }
      }
    }
  }
  block_sum_in_order(acc, partials + ((static_cast<index_t>(slice) * K + k) * C + c) * R * R);
}

// Stage 1 for the bias: block (k, slice) writes its slice's sum to partials[slice][k].
__global__ void __launch_bounds__(reduce_threads)
    conv2d_bias_partials_v2_kernel(const float* __restrict__ grad_output, float* __restrict__ partials, int N, int K,
                                   int OH, int OW) {
  const int k = blockIdx.x, slice = blockIdx.y;
  float acc[1] = {0.0f};
  const int n_end = min(N, (slice + 1) * weight_grad_slice);
  for (index_t n = static_cast<index_t>(slice) * weight_grad_slice; n < n_end; ++n) {
    const float* grad_out = grad_output + (n * K + k) * OH * OW;
    for (int p = threadIdx.x; p < OH * OW; p += reduce_threads) acc[0] += grad_out[p];
  }
  block_sum_in_order(acc, partials + static_cast<index_t>(slice) * K + k);
}

// Stage 2: result[e] = partials[0][e] + partials[1][e] + ... in slice order.
__global__ void conv2d_sum_slices_v2_kernel(const float* __restrict__ partials, float* __restrict__ result, int slices,
                                  index_t count) {
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count;
       e += static_cast<index_t>(gridDim.x) * blockDim.x) {
    float sum = 0.0f;
    for (int s = 0; s < slices; ++s) sum += partials[s * count + e];
    result[e] = sum;
  }
}

int weight_grad_slices(const conv2d_shape& shape) {
  return static_cast<int>((shape.batch + weight_grad_slice - 1) / weight_grad_slice);
}

}  // namespace

void conv2d_forward_cuda(const float* input, const float* weight, const float* bias, float* output,
                         const conv2d_shape& shape, bool relu, void* stream, int version) {
  check_conv2d_shape(shape);
  const int C = static_cast<int>(shape.in_channels), K = static_cast<int>(shape.out_channels);
  const int H = static_cast<int>(shape.height), W = static_cast<int>(shape.width);
  const int R = static_cast<int>(shape.kernel_size), P = static_cast<int>(shape.padding);
  if (resolve_version(version) == 1) {
    const index_t count = shape.batch * K * shape.out_height() * shape.out_width();
    conv2d_forward_v1_kernel<<<elementwise_blocks(count), elementwise_threads, 0, as_stream(stream)>>>(
        input, weight, bias, output, C, K, H, W, R, P, static_cast<int>(shape.out_height()),
        static_cast<int>(shape.out_width()), count, relu);
    CUDA_CHECK(cudaGetLastError());
    return;
  }
  launch_tiled_v2<false>(input, weight, bias, output, shape.batch, C, K, H, W, R, P, relu, as_stream(stream));
}

void conv2d_backward_input_cuda(const float* grad_output, const float* weight, float* grad_input,
                                const conv2d_shape& shape, void* stream, int version) {
  check_conv2d_shape(shape);
  const int C = static_cast<int>(shape.in_channels), K = static_cast<int>(shape.out_channels);
  const int OH = static_cast<int>(shape.out_height()), OW = static_cast<int>(shape.out_width());
  const int R = static_cast<int>(shape.kernel_size), P = static_cast<int>(shape.padding);
  if (resolve_version(version) == 1) {
    const index_t count = shape.batch * C * shape.height * shape.width;
    conv2d_backward_input_v1_kernel<<<elementwise_blocks(count), elementwise_threads, 0, as_stream(stream)>>>(
        grad_output, weight, grad_input, C, K, static_cast<int>(shape.height), static_cast<int>(shape.width), R, P, OH,
        OW, count);
    CUDA_CHECK(cudaGetLastError());
    return;
  }
  // A convolution of grad_output (K channels, OH x OW) padded by R-1-P, giving C channels of H x W.
  launch_tiled_v2<true>(grad_output, weight, nullptr, grad_input, shape.batch, K, C, OH, OW, R, R - 1 - P, false,
                        as_stream(stream));
}

std::int64_t conv2d_backward_weight_workspace_floats(const conv2d_shape& shape, int version) {
  check_conv2d_shape(shape);
  if (resolve_version(version) == 1) return 0;
  return weight_grad_slices(shape) *
         (shape.out_channels * shape.in_channels * shape.kernel_size * shape.kernel_size + shape.out_channels);
}

void conv2d_backward_weight_cuda(const float* input, const float* grad_output, float* grad_weight, float* grad_bias,
                                 float* workspace, const conv2d_shape& shape, void* stream, int version) {
  check_conv2d_shape(shape);
  const int N = static_cast<int>(shape.batch);
  const int C = static_cast<int>(shape.in_channels), K = static_cast<int>(shape.out_channels);
  const int H = static_cast<int>(shape.height), W = static_cast<int>(shape.width);
  const int OH = static_cast<int>(shape.out_height()), OW = static_cast<int>(shape.out_width());
  const int R = static_cast<int>(shape.kernel_size), P = static_cast<int>(shape.padding);
  const auto s = as_stream(stream);
  if (resolve_version(version) == 1) {
    const index_t count = static_cast<index_t>(K) * C * R * R + K;
    conv2d_backward_weight_v1_kernel<<<elementwise_blocks(count), elementwise_threads, 0, s>>>(
        input, grad_output, grad_weight, grad_bias, N, C, K, H, W, R, P, OH, OW);
    CUDA_CHECK(cudaGetLastError());
    return;
  }
  if (workspace == nullptr) throw std::invalid_argument("conv2d_backward_weight_cuda: v2 needs a workspace");
  const int slices = weight_grad_slices(shape);
  const index_t weights = static_cast<index_t>(K) * C * R * R;
  float* weight_partials = workspace;
  float* bias_partials = workspace + slices * weights;
  const dim3 weight_grid(static_cast<unsigned>(C), static_cast<unsigned>(K), static_cast<unsigned>(slices));
  if (R == 3) {
    conv2d_weight_partials_v2_kernel<3><<<weight_grid, reduce_threads, 0, s>>>(input, grad_output, weight_partials, N, C,
                                                                              K, H, W, P, OH, OW);
  } else {
    conv2d_weight_partials_v2_kernel<5><<<weight_grid, reduce_threads, 0, s>>>(input, grad_output, weight_partials, N, C,
                                                                              K, H, W, P, OH, OW);
  }
  CUDA_CHECK(cudaGetLastError());
  conv2d_bias_partials_v2_kernel<<<dim3(static_cast<unsigned>(K), static_cast<unsigned>(slices)), reduce_threads, 0, s>>>(
      grad_output, bias_partials, N, K, OH, OW);
  CUDA_CHECK(cudaGetLastError());
  conv2d_sum_slices_v2_kernel<<<elementwise_blocks(weights), elementwise_threads, 0, s>>>(weight_partials, grad_weight, slices,
                                                                                weights);
  CUDA_CHECK(cudaGetLastError());
  conv2d_sum_slices_v2_kernel<<<elementwise_blocks(K), elementwise_threads, 0, s>>>(bias_partials, grad_bias, slices, K);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace trackbench::kernels
