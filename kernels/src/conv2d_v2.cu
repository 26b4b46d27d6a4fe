// ---- v2: shared-memory tiles for forward and grad-input; two-stage grad-weight ----
#include "conv2d_device.cuh"
#include "conv2d_launchers.h"

namespace trackbench::kernels::detail {
namespace {

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

// No tensor-core path: v2 computes fp32 whatever `precision` asks.

void forward_v2(const float* input, const float* weight, const float* bias, float* output, const conv2d_shape& s,
                bool relu, cudaStream_t stream, precision) {
  const dims d(s);
  launch_tiled_v2<false>(input, weight, bias, output, s.batch, d.C, d.K, d.H, d.W, d.R, d.P, relu, stream);
}

void backward_input_v2(const float* grad_output, const float* weight, float* grad_input, const conv2d_shape& s,
                       cudaStream_t stream, precision, const float* relu_input) {
  const dims d(s);
  // A convolution of grad_output (K channels, OH x OW) padded by R-1-P, giving C channels of H x W.
  launch_tiled_v2<true>(grad_output, weight, nullptr, grad_input, s.batch, d.K, d.C, d.OH, d.OW, d.R, d.R - 1 - d.P,
                        false, stream);
  apply_relu_mask(grad_input, relu_input, s, stream);
}

std::int64_t workspace_v2(const conv2d_shape& s, precision) {
  return weight_grad_slices(s) * (s.out_channels * s.in_channels * s.kernel_size * s.kernel_size + s.out_channels);
}

void backward_weight_v2(const float* input, const float* grad_output, float* grad_weight, float* grad_bias,
                        float* workspace, const conv2d_shape& s, cudaStream_t stream, precision) {
  const dims d(s);
  const int slices = weight_grad_slices(s);
  const index_t weights = static_cast<index_t>(d.K) * d.C * d.R * d.R;
  float* weight_partials = workspace;
  float* bias_partials = workspace + slices * weights;
  const dim3 weight_grid(static_cast<unsigned>(d.C), static_cast<unsigned>(d.K), static_cast<unsigned>(slices));
  auto partials = d.R == 3 ? conv2d_weight_partials_v2_kernel<3> : conv2d_weight_partials_v2_kernel<5>;
  partials<<<weight_grid, reduce_threads, 0, stream>>>(input, grad_output, weight_partials, d.N, d.C, d.K, d.H, d.W,
                                                       d.P, d.OH, d.OW);
  CUDA_CHECK(cudaGetLastError());
  conv2d_bias_partials_v2_kernel<<<dim3(static_cast<unsigned>(d.K), static_cast<unsigned>(slices)), reduce_threads, 0,
                                   stream>>>(grad_output, bias_partials, d.N, d.K, d.OH, d.OW);
  CUDA_CHECK(cudaGetLastError());
  conv2d_sum_slices_v2_kernel<<<elementwise_blocks(weights), elementwise_threads, 0, stream>>>(
      weight_partials, grad_weight, slices, weights);
  CUDA_CHECK(cudaGetLastError());
  conv2d_sum_slices_v2_kernel<<<elementwise_blocks(d.K), elementwise_threads, 0, stream>>>(bias_partials, grad_bias,
                                                                                          slices, d.K);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace trackbench::kernels::detail
