#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda_check.h"
#include "trackbench/kernels/conv2d.h"

namespace trackbench::kernels {
namespace {

using index_t = std::int64_t;

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

// v1 and v2 take the ReLU mask of grad-input as a second pass over the result.
__global__ void conv2d_relu_mask_kernel(float* __restrict__ grad_input, const float* __restrict__ relu_input,
                                        index_t count) {
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count;
       e += static_cast<index_t>(gridDim.x) * blockDim.x) {
    if (!(relu_input[e] > 0.0f)) grad_input[e] = 0.0f;
  }
}

void apply_relu_mask(float* grad_input, const float* relu_input, const conv2d_shape& s, cudaStream_t stream) {
  if (relu_input == nullptr) return;
  const index_t count = s.batch * s.in_channels * s.height * s.width;
  conv2d_relu_mask_kernel<<<elementwise_blocks(count), elementwise_threads, 0, stream>>>(grad_input, relu_input, count);
  CUDA_CHECK(cudaGetLastError());
}

// The layer's sizes as the kernels take them.
struct dims {
  int N, C, K, H, W, R, P, OH, OW;
  explicit dims(const conv2d_shape& s)
      : N(static_cast<int>(s.batch)), C(static_cast<int>(s.in_channels)), K(static_cast<int>(s.out_channels)),
        H(static_cast<int>(s.height)), W(static_cast<int>(s.width)), R(static_cast<int>(s.kernel_size)),
        P(static_cast<int>(s.padding)), OH(static_cast<int>(s.out_height())), OW(static_cast<int>(s.out_width())) {}
};

// ---- v1 and v2 launchers (no tensor-core path: both compute fp32 whatever `precision` asks) ----

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

// ---- v3: implicit GEMM ----
//
// Every pass is C[rows x cols] = sum over a reduction index of A[row, red] * B[red, col], with
// A and B gathered from the tensors as a tile is loaded (nothing is materialised):
//   forward      rows m = (n, y, x), cols k, red = (c, i, j): A = input[n, c, y+i-p, x+j-p],
//                B = weight[k, c, i, j]; epilogue adds the bias and applies the ReLU.
//   grad-input   the forward kernel on grad_output, padding R-1-p, B read flipped with its
//                channel axes swapped; epilogue applies the optional ReLU mask.
//   grad-weight  rows (c, i, j) plus one row of ones (the bias), cols k, red = (n, y, x):
//                A = input[n, c, y+i-p, x+j-p], B = grad_output[n, k, y, x], over one fixed
//                slice of the reduction per block; a second kernel adds the slices in order.
//
// Tiles, and why:
//   256 threads, 16 reduction steps per stage, and one of two block tiles, both 8192 results
//   so that every thread keeps 32 accumulators:
//     wide   128 rows x 64 cols: 64 columns hold all of conv2's 64 output channels, so each
//            gathered input value is loaded into shared memory once per block;
//     narrow 256 rows x 32 cols: for 32 or fewer columns (conv1's forward, conv2's
//            grad-input, whose GEMM has conv2's 32 input channels as columns), where the wide
//            tile would compute half its columns for nothing.
//   32 results per thread (8 x 4 on the CUDA-core path, a 32 x 32 warp tile of 2 x 4
//   mma.sync m16n8k8 on the tensor-core path): per reduction step a thread reads 12 values
//   from shared memory for 32 FMAs (CUDA cores), or a warp 16 fragment registers per lane for
//   8 MMAs. 32 accumulators + up to 18 staged values keep a thread near 100 registers, so two
//   blocks (16 warps) fit an SM for latency hiding (__launch_bounds__(256, 2)).
//   Two shared-memory stages: the next tile's global loads are issued into registers before
//   the current tile's math and stored to the other stage after it, so one __syncthreads per
//   step suffices and the gather's latency hides behind the math. (cp.async cannot gather
//   with zero fill of out-of-image taps as cheaply, and the gather is the irregular part.)
//   Shared rows are padded by 8 floats: the tensor-core fragment reads (lanes differ by
//   row t = lane % 4 and column g = lane / 4) then hit 32 distinct banks, as 8*t + g does,
//   and rows stay 16-byte aligned for the CUDA-core path's float4 reads.
//   Operands are rounded to TF32 once, when stored to shared memory, not per fragment read.
// Determinism: each result is one thread's (or one MMA lane's) running sum over the reduction
// in a fixed order; the grad-weight slices are sized from the shape alone and added in order;
// the tile is chosen from the shape alone.
namespace v3 {

constexpr int threads = 256;
constexpr int block_red = 16;

template <int rows_, int cols_>
struct tile_shape {
  static constexpr int rows = rows_, cols = cols_;
  static_assert(rows * cols == threads * 32, "32 results per thread");
  static_assert(rows % 32 == 0 && cols % 32 == 0 && threads % rows == 0, "whole warp tiles, whole A rows");
  static constexpr int a_stride = rows + 8;
  static constexpr int b_stride = cols + 8;
  // Gathered elements per thread and stage.
  static constexpr int a_per_thread = rows * block_red / threads;
  static constexpr int b_per_thread = cols * block_red / threads;
  // CUDA-core thread grid: rows_per_thread / 2 = 4 rows in each half of the tile.
  static constexpr int thread_rows = rows / 8;  // threads along the rows
  static constexpr int warps_m = rows / 32;     // tensor-core warp grid
  struct __align__(16) shared {
    float a[2][block_red][a_stride];  // [stage][reduction step][row]
    float b[2][block_red][b_stride];  // [stage][reduction step][col]
  };
};
using wide = tile_shape<128, 64>;
using narrow = tile_shape<256, 32>;

__device__ __forceinline__ float round_to_tf32(float value) {
#if __CUDA_ARCH__ >= 800
  unsigned bits;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(bits) : "f"(value));
  return __uint_as_float(bits);
#else
  __trap();  // the launcher refuses tf32 before sm_80
  return value;
#endif
}

template <bool tf32>
__device__ __forceinline__ float operand(float value) {
  return tf32 ? round_to_tf32(value) : value;
}

// D = A * B + D for one 16x8x8 tile; fragment layouts per the PTX ISA's "Matrix Fragments for
// mma.m16n8k8" (.tf32): with g = lane / 4 and t = lane % 4, a0..a3 = A[g][t], A[g+8][t],
// A[g][t+4], A[g+8][t+4]; b0, b1 = B[t][g], B[t+4][g]; d0..d3 = D[g][2t], D[g][2t+1],
// D[g+8][2t], D[g+8][2t+1].
__device__ __forceinline__ void mma_tf32(float& d0, float& d1, float& d2, float& d3, unsigned a0, unsigned a1,
                                         unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
#if __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

// Which results a thread holds: acc[i * cols + j] is block-local row row(i), column col(j).
// CUDA cores: thread (tm = tid % thread_rows, tn = tid / thread_rows) owns rows 4tm..4tm+3
//   and rows/2+4tm..rows/2+4tm+3 (two float4 reads per step, contiguous across the threads
//   of a warp with one tn) and columns 4tn..4tn+3.
// Tensor cores: warp w owns the 32 x 32 tile at rows 32*(w % warps_m), columns
//   32*(w / warps_m); row slot i = 2*mt + h is its row 16*mt + 8*h + g, column slot
//   j = 2*nt + e its column 8*nt + 2*t + e.
template <class T, bool tf32>
struct thread_tile {
  static constexpr int rows = tf32 ? 4 : 8;
  static constexpr int cols = tf32 ? 8 : 4;
  __device__ static int row(int i) {
    const int tid = threadIdx.x;
    if (tf32) {
      const int warp = tid / 32, lane = tid % 32;
      return (warp % T::warps_m) * 32 + (i / 2) * 16 + (i % 2) * 8 + lane / 4;
    }
    return (i < 4 ? 0 : T::rows / 2) + (tid % T::thread_rows) * 4 + i % 4;
  }
  __device__ static int col(int j) {
    const int tid = threadIdx.x;
    if (tf32) {
      const int warp = tid / 32, lane = tid % 32;
      return (warp / T::warps_m) * 32 + (j / 2) * 8 + (lane % 4) * 2 + j % 2;
    }
    return (tid / T::thread_rows) * 4 + j;
  }
};

// One stage's math: acc += A[:, 0:16] * B[0:16, :] for this thread's results.
template <class T, bool tf32>
__device__ __forceinline__ void multiply_stage(const typename T::shared& s, int stage, float (&acc)[32]) {
  const int tid = threadIdx.x;
  if (tf32) {
    const int warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    const int row0 = (warp % T::warps_m) * 32 + g, col0 = (warp / T::warps_m) * 32 + g;
#pragma unroll
    for (int k8 = 0; k8 < block_red; k8 += 8) {
      unsigned a[2][4], b[4][2];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        const int r = row0 + mt * 16;
        a[mt][0] = __float_as_uint(s.a[stage][k8 + t][r]);
        a[mt][1] = __float_as_uint(s.a[stage][k8 + t][r + 8]);
        a[mt][2] = __float_as_uint(s.a[stage][k8 + t + 4][r]);
        a[mt][3] = __float_as_uint(s.a[stage][k8 + t + 4][r + 8]);
      }
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        b[nt][0] = __float_as_uint(s.b[stage][k8 + t][col0 + nt * 8]);
        b[nt][1] = __float_as_uint(s.b[stage][k8 + t + 4][col0 + nt * 8]);
      }
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          // Row slots 2mt (h = 0) and 2mt+1 (h = 1); column slots 2nt (e = 0) and 2nt+1.
          float* top = acc + (2 * mt) * 8 + 2 * nt;
          float* bottom = acc + (2 * mt + 1) * 8 + 2 * nt;
          mma_tf32(top[0], top[1], bottom[0], bottom[1], a[mt][0], a[mt][1], a[mt][2], a[mt][3], b[nt][0], b[nt][1]);
        }
      }
    }
  } else {
    const int tm = tid % T::thread_rows, tn = tid / T::thread_rows;
#pragma unroll
    for (int k = 0; k < block_red; ++k) {
      const float4 lo = *reinterpret_cast<const float4*>(&s.a[stage][k][tm * 4]);
      const float4 hi = *reinterpret_cast<const float4*>(&s.a[stage][k][T::rows / 2 + tm * 4]);
      const float4 bv = *reinterpret_cast<const float4*>(&s.b[stage][k][tn * 4]);
      const float a[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
      const float b[4] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
      for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i * 4 + j] = fmaf(a[i], b[j], acc[i * 4 + j]);
      }
    }
  }
}

// The main loop shared by every pass. `operands` gathers stage `step` of A and B into
// registers (load) and writes them to shared memory (store); steps run in order 0, 1, ...
template <class T, bool tf32, class Operands>
__device__ void gemm(Operands& operands, int steps, typename T::shared& s, float (&acc)[32]) {
#pragma unroll
  for (int e = 0; e < 32; ++e) acc[e] = 0.0f;
  float a[T::a_per_thread], b[T::b_per_thread];
  operands.load(0, a, b);
  operands.template store<tf32>(s, 0, a, b);
  __syncthreads();
  for (int step = 0; step < steps; ++step) {
    const int stage = step & 1;
    const bool more = step + 1 < steps;
    if (more) operands.load(step + 1, a, b);  // in flight during this stage's math
    multiply_stage<T, tf32>(s, stage, acc);
    // The other stage was last read in the previous step, before the barrier that ended it.
    if (more) operands.template store<tf32>(s, stage ^ 1, a, b);
    __syncthreads();
  }
}

// Forward and grad-input operands. A[m, red] = x[n, c, y+i-p, x+j-p] with m = (n, y, x) and
// red = (c, i, j) over the GEMM's input channels C; B[red, k] = the weight of output channel k.
// flipped: the weight is the layer's [C][K][R][R] read at [c][k][R-1-i][R-1-j] (grad-input).
// Thread t gathers A row t % rows at reduction steps t / rows + (threads / rows) * q (a warp
// reads consecutive positions: coalesced), and B at step t % 16 for columns t / 16 + 16q.
template <class T, int R, bool flipped>
struct conv_operands {
  static constexpr int a_step_stride = threads / T::rows;
  const float* weight;
  const float* image = nullptr;  // this thread's A row's image, or nullptr past the last row
  int C, K, H, W, P, red;
  int y = 0, x = 0;  // this thread's A row's output position
  int col0;

  __device__ conv_operands(const float* input, const float* weight_, int C_, int K_, int H_, int W_, int P_, int OH,
                           int OW, index_t M, index_t row0, int col0_)
      : weight(weight_), C(C_), K(K_), H(H_), W(W_), P(P_), red(C_ * R * R), col0(col0_) {
    const index_t m = row0 + threadIdx.x % T::rows;
    if (m < M) {
      const index_t n = m / (static_cast<index_t>(OH) * OW);
      const int position = static_cast<int>(m - n * OH * OW);
      y = position / OW;
      x = position - y * OW;
      image = input + n * C * H * W;
    }
  }

  __device__ void load(int step, float (&a)[T::a_per_thread], float (&b)[T::b_per_thread]) const {
    const int tid = threadIdx.x;
#pragma unroll
    for (int q = 0; q < T::a_per_thread; ++q) {
      const int r = step * block_red + tid / T::rows + a_step_stride * q;
      float v = 0.0f;
      if (image != nullptr && r < red) {
        const int c = r / (R * R), tap = r - c * (R * R), i = tap / R, j = tap - i * R;
        const int iy = y + i - P, ix = x + j - P;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = __ldg(image + (c * H + iy) * W + ix);
      }
      a[q] = v;
    }
    const int r = step * block_red + tid % block_red;
#pragma unroll
    for (int q = 0; q < T::b_per_thread; ++q) {
      const int k = col0 + tid / block_red + 16 * q;
      float v = 0.0f;
      if (r < red && k < K) {
        if (flipped) {
          const int c = r / (R * R), tap = r - c * (R * R), i = tap / R, j = tap - i * R;
          v = __ldg(weight + ((static_cast<index_t>(c) * K + k) * R + (R - 1 - i)) * R + (R - 1 - j));
        } else {
          v = __ldg(weight + static_cast<index_t>(k) * red + r);
        }
      }
      b[q] = v;
    }
  }

  template <bool tf32>
  __device__ void store(typename T::shared& s, int stage, const float (&a)[T::a_per_thread],
                        const float (&b)[T::b_per_thread]) const {
    const int tid = threadIdx.x;
#pragma unroll
    for (int q = 0; q < T::a_per_thread; ++q) {
      s.a[stage][tid / T::rows + a_step_stride * q][tid % T::rows] = operand<tf32>(a[q]);
    }
#pragma unroll
    for (int q = 0; q < T::b_per_thread; ++q) {
      s.b[stage][tid % block_red][tid / block_red + 16 * q] = operand<tf32>(b[q]);
    }
  }
};

// Forward (flipped = false) and grad-input (flipped = true, input = grad_output, C and K the
// layer's K and C, P = R-1-padding, H x W and OH x OW swapped likewise). `relu_input` (may be
// nullptr) masks the result: output *= relu_input > 0, same layout as the output.
template <class T, int R, bool flipped, bool tf32>
__global__ void __launch_bounds__(threads, 2)
    conv2d_igemm_v3_kernel(const float* __restrict__ input, const float* __restrict__ weight,
                           const float* __restrict__ bias, const float* __restrict__ relu_input,
                           float* __restrict__ output, int C, int K, int H, int W, int P, int OH, int OW, index_t M,
                           bool relu) {
  __shared__ typename T::shared tiles;
  const index_t row0 = static_cast<index_t>(blockIdx.x) * T::rows;
  const int col0 = static_cast<int>(blockIdx.y) * T::cols;
  conv_operands<T, R, flipped> operands(input, weight, C, K, H, W, P, OH, OW, M, row0, col0);
  float acc[32];
  gemm<T, tf32>(operands, (operands.red + block_red - 1) / block_red, tiles, acc);

  using tile = thread_tile<T, tf32>;
  const index_t plane = static_cast<index_t>(OH) * OW;
#pragma unroll
  for (int i = 0; i < tile::rows; ++i) {
    const index_t m = row0 + tile::row(i);
    if (m >= M) continue;
    const index_t n = m / plane;
    const index_t base = n * K * plane + (m - n * plane);  // output[n, 0, y, x]
#pragma unroll
    for (int j = 0; j < tile::cols; ++j) {
      const int k = col0 + tile::col(j);
      if (k >= K) continue;
      const index_t e = base + k * plane;
      float v = acc[i * tile::cols + j];
      if (bias != nullptr) v += bias[k];
      if (relu) v = fmaxf(v, 0.0f);
      if (relu_input != nullptr && !(relu_input[e] > 0.0f)) v = 0.0f;
      output[e] = v;
    }
  }
}

// grad-weight operands, over the reduction slice [first, last) of m = (n, y, x).
// A[red, r] = input[n, c, y+i-p, x+j-p] for r = (c, i, j) < C*R*R, 1 for r = C*R*R (the bias
// row), 0 beyond; B[red, k] = grad_output[n, k, y, x]. Thread t handles reduction step t % 16
// of every stage (a warp reads 16 consecutive positions: coalesced), A rows t / 16 + 16q and
// B columns t / 16 + 16q. Its position advances by 16 each stage, so it is kept as (n, y, x)
// and stepped, not divided out again.
template <class T, int R>
struct weight_operands {
  const float* input;
  const float* grad_output;
  int C, K, H, W, P, OH, OW, red;
  int row0, col0;
  index_t m, last;
  index_t n = 0;
  int y = 0, x = 0;

  __device__ weight_operands(const float* input_, const float* grad_output_, int C_, int K_, int H_, int W_, int P_,
                             int OH_, int OW_, index_t first, index_t last_, int row0_, int col0_)
      : input(input_), grad_output(grad_output_), C(C_), K(K_), H(H_), W(W_), P(P_), OH(OH_), OW(OW_),
        red(C_ * R * R), row0(row0_), col0(col0_), m(first + threadIdx.x % block_red), last(last_) {
    const index_t plane = static_cast<index_t>(OH) * OW;
    n = m / plane;
    const int position = static_cast<int>(m - n * plane);
    y = position / OW;
    x = position - y * OW;
  }

  // Steps are loaded in order, each one block_red positions further.
  __device__ void load(int step, float (&a)[T::a_per_thread], float (&b)[T::b_per_thread]) {
    if (step > 0) {
      m += block_red;
      x += block_red;
      while (x >= OW) {
        x -= OW;
        if (++y == OH) {
          y = 0;
          ++n;
        }
      }
    }
    const bool valid = m < last;
    const int tid = threadIdx.x;
#pragma unroll
    for (int q = 0; q < T::a_per_thread; ++q) {
      const int r = row0 + tid / block_red + 16 * q;
      float v = 0.0f;
      if (valid && r < red) {
        const int c = r / (R * R), tap = r - c * (R * R), i = tap / R, j = tap - i * R;
        const int iy = y + i - P, ix = x + j - P;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = __ldg(input + ((n * C + c) * H + iy) * W + ix);
      } else if (valid && r == red) {
        v = 1.0f;
      }
      a[q] = v;
    }
#pragma unroll
    for (int q = 0; q < T::b_per_thread; ++q) {
      const int k = col0 + tid / block_red + 16 * q;
      b[q] = valid && k < K ? __ldg(grad_output + ((n * K + k) * OH + y) * OW + x) : 0.0f;
    }
  }

  template <bool tf32>
  __device__ void store(typename T::shared& s, int stage, const float (&a)[T::a_per_thread],
                        const float (&b)[T::b_per_thread]) const {
    const int tid = threadIdx.x;
#pragma unroll
    for (int q = 0; q < T::a_per_thread; ++q) {
      s.a[stage][tid % block_red][tid / block_red + 16 * q] = operand<tf32>(a[q]);
    }
#pragma unroll
    for (int q = 0; q < T::b_per_thread; ++q) {
      s.b[stage][tid % block_red][tid / block_red + 16 * q] = operand<tf32>(b[q]);
    }
  }
};

// grad-weight always uses the wide tile: its rows are C*R*R + 1 (289 for conv2) and its columns
// the output channels (64 for conv2).
using weight_tile = wide;

// Stage 1: block (row tile, column tile, slice) writes its slice's partial products to
// partials[slice][k][r], r in 0..C*R*R (the last is the bias).
template <int R, bool tf32>
__global__ void __launch_bounds__(threads, 2)
    conv2d_weight_igemm_v3_kernel(const float* __restrict__ input, const float* __restrict__ grad_output,
                                  float* __restrict__ partials, int C, int K, int H, int W, int P, int OH, int OW,
                                  index_t M, index_t slice_rows) {
  using T = weight_tile;
  __shared__ T::shared tiles;
  const int row0 = static_cast<int>(blockIdx.x) * T::rows;
  const int col0 = static_cast<int>(blockIdx.y) * T::cols;
  const index_t first = static_cast<index_t>(blockIdx.z) * slice_rows;
  const index_t last = min(M, first + slice_rows);
  weight_operands<T, R> operands(input, grad_output, C, K, H, W, P, OH, OW, first, last, row0, col0);
  float acc[32];
  gemm<T, tf32>(operands, static_cast<int>((last - first + block_red - 1) / block_red), tiles, acc);

  using tile = thread_tile<T, tf32>;
  const int columns = operands.red + 1;
  float* out = partials + static_cast<index_t>(blockIdx.z) * K * columns;
#pragma unroll
  for (int i = 0; i < tile::rows; ++i) {
    const int r = row0 + tile::row(i);
    if (r >= columns) continue;
#pragma unroll
    for (int j = 0; j < tile::cols; ++j) {
      const int k = col0 + tile::col(j);
      if (k < K) out[static_cast<index_t>(k) * columns + r] = acc[i * tile::cols + j];
    }
  }
}

// Stage 2: a warp per element (k, r) of the product adds its slices, lane l taking slices
// l, l+32, ... in order and the lanes then summed by a fixed shuffle tree, so the order depends
// on the slice count alone. Element (k, r) goes to grad_weight[k][r], or to grad_bias[k] for
// the last r. A warp per element keeps the launch wide when there are few elements (conv1's
// 320) and many slices.
__global__ void conv2d_sum_slices_v3_kernel(const float* __restrict__ partials, float* __restrict__ grad_weight,
                                            float* __restrict__ grad_bias, int slices, int K, int red) {
  const index_t count = static_cast<index_t>(K) * (red + 1);
  const int lane = threadIdx.x % 32;
  const index_t warps = static_cast<index_t>(gridDim.x) * blockDim.x / 32;
  // e is the same across a warp, so every lane takes part in the shuffles.
  for (index_t e = (static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; e < count; e += warps) {
    float sum = 0.0f;
    for (int s = lane; s < slices; s += 32) sum += partials[s * count + e];
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    const index_t k = e / (red + 1), r = e - k * (red + 1);
    if (lane == 0 && r < red) grad_weight[k * red + r] = sum;
    if (lane == 0 && r == red) grad_bias[k] = sum;
  }
}

void launch_sum_slices(const float* partials, float* grad_weight, float* grad_bias, int slices, int K, int red,
                       cudaStream_t stream) {
  const index_t threads_needed = static_cast<index_t>(K) * (red + 1) * 32;
  conv2d_sum_slices_v3_kernel<<<elementwise_blocks(threads_needed), elementwise_threads, 0, stream>>>(
      partials, grad_weight, grad_bias, slices, K, red);
  CUDA_CHECK(cudaGetLastError());
}

// grad-weight when the product has fewer rows (C*R*R + 1) than a warp tile: conv1 has 10,
// which would leave most of a 128-row GEMM tile idle. The pass then does about 10 multiply-adds
// per element of grad_output it reads, so it is bound by reading grad_output once, and this
// kernel streams it: a warp takes `stream_channels` output channels over one slice of
// stream_slice_rows reduction rows (n, y, x), each lane a row at a time (coalesced along x),
// multiplying the row's gathered input patch (L1-cached: the block's warps read the same
// images) into channels x (taps + 1) running sums, the last of them the bias. At the end a
// fixed shuffle tree sums the lanes and lane 0 writes the slice's partial products to
// partials[slice][k][r], the layout the GEMM path writes, so stage 2 is shared.
constexpr int stream_threads = 128;
constexpr index_t stream_slice_rows = 1024;  // fixed, so every sum's order depends on the shape alone

// Channels per warp: as many as keep the running sums within 40 registers.
__host__ __device__ constexpr int stream_channels(int taps) { return 40 / (taps + 1) > 1 ? 40 / (taps + 1) : 1; }

template <int R, int C>
__global__ void __launch_bounds__(stream_threads)
    conv2d_weight_stream_v3_kernel(const float* __restrict__ input, const float* __restrict__ grad_output,
                                   float* __restrict__ partials, int K, int H, int W, int P, int OH, int OW,
                                   index_t M) {
  constexpr int taps = C * R * R;
  constexpr int channels = stream_channels(taps);
  const int lane = threadIdx.x % 32;
  const int k0 = (static_cast<int>(blockIdx.y) * (stream_threads / 32) + static_cast<int>(threadIdx.x) / 32) * channels;
  if (k0 >= K) return;  // a whole warp, so the shuffles below stay full
  const index_t first = static_cast<index_t>(blockIdx.x) * stream_slice_rows;
  const index_t last = min(M, first + stream_slice_rows);
  const int plane = OH * OW;
  float acc[channels][taps + 1];
#pragma unroll
  for (int q = 0; q < channels; ++q) {
#pragma unroll
    for (int t = 0; t <= taps; ++t) acc[q][t] = 0.0f;
  }
  for (index_t m = first + lane; m < last; m += 32) {
    const index_t n = m / plane;
    const int p = static_cast<int>(m - n * plane);
    const int y = p / OW, x = p - y * OW;
    float patch[taps];
#pragma unroll
    for (int c = 0; c < C; ++c) {
#pragma unroll
      for (int i = 0; i < R; ++i) {
        const int iy = y + i - P;
#pragma unroll
        for (int j = 0; j < R; ++j) {
          const int ix = x + j - P;
          patch[(c * R + i) * R + j] =
              iy >= 0 && iy < H && ix >= 0 && ix < W ? __ldg(input + ((n * C + c) * H + iy) * W + ix) : 0.0f;
        }
      }
    }
#pragma unroll
    for (int q = 0; q < channels; ++q) {
      const float g = k0 + q < K ? __ldg(grad_output + (n * K + k0 + q) * plane + p) : 0.0f;
#pragma unroll
      for (int t = 0; t < taps; ++t) acc[q][t] = fmaf(g, patch[t], acc[q][t]);
      acc[q][taps] += g;
    }
  }
  float* out = partials + static_cast<index_t>(blockIdx.x) * K * (taps + 1);
#pragma unroll
  for (int q = 0; q < channels; ++q) {
#pragma unroll
    for (int t = 0; t <= taps; ++t) {
      float v = acc[q][t];
      for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
      if (lane == 0 && k0 + q < K) out[static_cast<index_t>(k0 + q) * (taps + 1) + t] = v;
    }
  }
}

// The grad-weight split, from the shape alone: enough slices that the launch has about
// target_blocks blocks (a fixed constant, not the GPU's SM count, so every GPU sums in the
// same order), each slice a whole number of reduction steps and at least min_slice_rows rows
// so the partial products stay a small fraction of the work.
constexpr index_t target_blocks = 512;
constexpr index_t min_slice_rows = 256;

struct weight_split {
  int row_tiles, col_tiles, slices;
  index_t rows, slice_rows;
};

weight_split plan_weight_split(const conv2d_shape& s) {
  weight_split plan;
  const index_t red = s.in_channels * s.kernel_size * s.kernel_size;
  plan.row_tiles = static_cast<int>((red + 1 + weight_tile::rows - 1) / weight_tile::rows);
  plan.col_tiles = static_cast<int>((s.out_channels + weight_tile::cols - 1) / weight_tile::cols);
  plan.rows = s.batch * s.out_height() * s.out_width();
  const index_t tiles = static_cast<index_t>(plan.row_tiles) * plan.col_tiles;
  const index_t wanted = std::max<index_t>(1, std::min((target_blocks + tiles - 1) / tiles,
                                                       (plan.rows + min_slice_rows - 1) / min_slice_rows));
  plan.slice_rows = ((plan.rows + wanted - 1) / wanted + block_red - 1) / block_red * block_red;
  plan.slices = static_cast<int>((plan.rows + plan.slice_rows - 1) / plan.slice_rows);
  return plan;
}

// tf32 needs the tensor cores' TF32 mode, sm_80 and newer.
void require_tf32_support() {
  int device = 0, major = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  if (major < 8) {
    throw std::invalid_argument("conv2d v3: tf32 needs a GPU of compute capability 8.0 or newer; this one is " +
                                std::to_string(major) + ".x (use fp32)");
  }
}

template <class T, bool flipped, bool tf32>
void launch_igemm_tile(const float* input, const float* weight, const float* bias, const float* relu_input,
                       float* output, int C, int K, int H, int W, int R, int P, int OH, int OW, index_t M, bool relu,
                       cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((M + T::rows - 1) / T::rows),
                  static_cast<unsigned>((K + T::cols - 1) / T::cols));
  auto kernel = R == 3 ? conv2d_igemm_v3_kernel<T, 3, flipped, tf32> : conv2d_igemm_v3_kernel<T, 5, flipped, tf32>;
  kernel<<<grid, threads, 0, stream>>>(input, weight, bias, relu_input, output, C, K, H, W, P, OH, OW, M, relu);
  CUDA_CHECK(cudaGetLastError());
}

// The forward-shaped GEMM for a shape and precision: the narrow tile for 32 or fewer columns.
template <bool flipped>
void launch_igemm(const float* input, const float* weight, const float* bias, const float* relu_input, float* output,
                  index_t N, int C, int K, int H, int W, int R, int P, bool relu, precision math, cudaStream_t stream) {
  const int OH = H + 2 * P - R + 1, OW = W + 2 * P - R + 1;
  const index_t M = N * OH * OW;
  const bool few_columns = K <= narrow::cols;
  if (math == precision::tf32) {
    require_tf32_support();
    auto launch = few_columns ? launch_igemm_tile<narrow, flipped, true> : launch_igemm_tile<wide, flipped, true>;
    launch(input, weight, bias, relu_input, output, C, K, H, W, R, P, OH, OW, M, relu, stream);
  } else {
    auto launch = few_columns ? launch_igemm_tile<narrow, flipped, false> : launch_igemm_tile<wide, flipped, false>;
    launch(input, weight, bias, relu_input, output, C, K, H, W, R, P, OH, OW, M, relu, stream);
  }
}

}  // namespace v3

void forward_v3(const float* input, const float* weight, const float* bias, float* output, const conv2d_shape& s,
                bool relu, cudaStream_t stream, precision math) {
  const dims d(s);
  v3::launch_igemm<false>(input, weight, bias, nullptr, output, s.batch, d.C, d.K, d.H, d.W, d.R, d.P, relu, math,
                          stream);
}

void backward_input_v3(const float* grad_output, const float* weight, float* grad_input, const conv2d_shape& s,
                       cudaStream_t stream, precision math, const float* relu_input) {
  const dims d(s);
  // grad_output (K channels, OH x OW) convolved with the flipped kernel, padding R-1-P.
  v3::launch_igemm<true>(grad_output, weight, nullptr, relu_input, grad_input, s.batch, d.K, d.C, d.OH, d.OW, d.R,
                         d.R - 1 - d.P, false, math, stream);
}

// Where the grad-weight product has fewer rows than a warp tile, v3 streams (see
// conv2d_weight_stream_v3_kernel); that covers C*R*R + 1 < 32, i.e. C <= 3 at 3x3 and C == 1 at 5x5.
bool weight_product_too_narrow(const conv2d_shape& s) {
  return s.in_channels * s.kernel_size * s.kernel_size + 1 < 32;
}

int weight_slices_v3(const conv2d_shape& s) {
  if (!weight_product_too_narrow(s)) return v3::plan_weight_split(s).slices;
  const index_t rows = s.batch * s.out_height() * s.out_width();
  return static_cast<int>((rows + v3::stream_slice_rows - 1) / v3::stream_slice_rows);
}

std::int64_t workspace_v3(const conv2d_shape& s, precision) {
  return static_cast<std::int64_t>(weight_slices_v3(s)) * s.out_channels *
         (s.in_channels * s.kernel_size * s.kernel_size + 1);
}

// The streaming kernel computes fp32 at either precision: with about ten multiply-adds per
// value it reads, tensor cores would have nothing to speed up.
template <int R, int C>
void launch_weight_stream(const float* input, const float* grad_output, float* workspace, const dims& d, int slices,
                          cudaStream_t stream) {
  constexpr int channels_per_block = v3::stream_threads / 32 * v3::stream_channels(C * R * R);
  const dim3 grid(static_cast<unsigned>(slices), static_cast<unsigned>((d.K + channels_per_block - 1) / channels_per_block));
  v3::conv2d_weight_stream_v3_kernel<R, C><<<grid, v3::stream_threads, 0, stream>>>(
      input, grad_output, workspace, d.K, d.H, d.W, d.P, d.OH, d.OW, static_cast<index_t>(d.N) * d.OH * d.OW);
  CUDA_CHECK(cudaGetLastError());
}

void launch_weight_stream(const float* input, const float* grad_output, float* workspace, const dims& d, int slices,
                          cudaStream_t stream) {
  if (d.R == 3 && d.C == 1) return launch_weight_stream<3, 1>(input, grad_output, workspace, d, slices, stream);
  if (d.R == 3 && d.C == 2) return launch_weight_stream<3, 2>(input, grad_output, workspace, d, slices, stream);
  if (d.R == 3 && d.C == 3) return launch_weight_stream<3, 3>(input, grad_output, workspace, d, slices, stream);
  if (d.R == 5 && d.C == 1) return launch_weight_stream<5, 1>(input, grad_output, workspace, d, slices, stream);
  throw std::logic_error("conv2d v3: no streaming grad-weight kernel for C=" + std::to_string(d.C) +
                         " kernel=" + std::to_string(d.R));
}

void backward_weight_v3(const float* input, const float* grad_output, float* grad_weight, float* grad_bias,
                        float* workspace, const conv2d_shape& s, cudaStream_t stream, precision math) {
  const dims d(s);
  const int slices = weight_slices_v3(s);
  if (weight_product_too_narrow(s)) {
    launch_weight_stream(input, grad_output, workspace, d, slices, stream);
  } else {
    const auto plan = v3::plan_weight_split(s);
    const bool tensor_cores = math == precision::tf32;
    if (tensor_cores) v3::require_tf32_support();
    const dim3 grid(static_cast<unsigned>(plan.row_tiles), static_cast<unsigned>(plan.col_tiles),
                    static_cast<unsigned>(plan.slices));
    auto kernel = d.R == 3 ? (tensor_cores ? v3::conv2d_weight_igemm_v3_kernel<3, true>
                                           : v3::conv2d_weight_igemm_v3_kernel<3, false>)
                           : (tensor_cores ? v3::conv2d_weight_igemm_v3_kernel<5, true>
                                           : v3::conv2d_weight_igemm_v3_kernel<5, false>);
    kernel<<<grid, v3::threads, 0, stream>>>(input, grad_output, workspace, d.C, d.K, d.H, d.W, d.P, d.OH, d.OW,
                                             plan.rows, plan.slice_rows);
    CUDA_CHECK(cudaGetLastError());
  }
  v3::launch_sum_slices(workspace, grad_weight, grad_bias, slices, d.K, d.C * d.R * d.R, stream);
}

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
    {forward_v1, backward_input_v1, workspace_v1, backward_weight_v1},
    {forward_v2, backward_input_v2, workspace_v2, backward_weight_v2},
    {forward_v3, backward_input_v3, workspace_v3, backward_weight_v3},
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
