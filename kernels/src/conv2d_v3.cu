#include <atomic>
#include <stdexcept>
#include <string>

#include "conv2d_launchers.h"
#include "conv2d_v3_gemm.cuh"

// ---- v3: implicit GEMM (conv2d_v3_gemm.cuh says how and why) ----
namespace trackbench::kernels::detail {
namespace v3 {
namespace {

// Forward and grad-input operands. A[m, red] = x[n, c, y+i-p, x+j-p] with m = (n, y, x) and
// red = (c, i, j) over the GEMM's input channels C; B[red, k] = the weight of output channel k.
// flipped: the weight is the layer's [C][K][R][R] read at [c][k][R-1-i][R-1-j] (grad-input).
// Which thread gathers which element: conv2d_v3_layout.h's conv_a_element (A) and
// step_major_element (B).
template <class T, int R, bool flipped>
struct conv_operands {
  const float* weight;
  const float* image = nullptr;  // this thread's A row's image, or nullptr past the last row
  int C, K, H, W, P, red;
  int y = 0, x = 0;  // this thread's A row's output position
  int col0;

  __device__ conv_operands(const float* input, const float* weight_, int C_, int K_, int H_, int W_, int P_, int OH,
                           int OW, index_t M, index_t row0, int col0_)
      : weight(weight_), C(C_), K(K_), H(H_), W(W_), P(P_), red(C_ * R * R), col0(col0_) {
    const index_t m = row0 + conv_a_element(T::rows, threadIdx.x, 0).index;
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
      const int r = step * block_red + conv_a_element(T::rows, tid, q).step;
      float v = 0.0f;
      if (image != nullptr && r < red) {
        const int c = r / (R * R), tap = r - c * (R * R), i = tap / R, j = tap - i * R;
        const int iy = y + i - P, ix = x + j - P;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = __ldg(image + (c * H + iy) * W + ix);
      }
      a[q] = v;
    }
    const int r = step * block_red + step_major_element(tid, 0).step;
#pragma unroll
    for (int q = 0; q < T::b_per_thread; ++q) {
      const int k = col0 + step_major_element(tid, q).index;
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
      const element e = conv_a_element(T::rows, tid, q);
      s.a[stage][e.step][shared_position(e.step, e.index, tf32)] = operand<tf32>(a[q]);
    }
#pragma unroll
    for (int q = 0; q < T::b_per_thread; ++q) {
      const element e = step_major_element(tid, q);
      s.b[stage][e.step][shared_position(e.step, e.index, tf32)] = operand<tf32>(b[q]);
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
// of every stage and A rows and B columns t / 16 + 16q (step_major_element). Its position
// advances by 16 each stage, so it is kept as (n, y, x) and stepped, not divided out again.
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
        red(C_ * R * R), row0(row0_), col0(col0_), m(first + step_major_element(threadIdx.x, 0).step),
        last(last_) {
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
      const int r = row0 + step_major_element(tid, q).index;
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
      const int k = col0 + step_major_element(tid, q).index;
      b[q] = valid && k < K ? __ldg(grad_output + ((n * K + k) * OH + y) * OW + x) : 0.0f;
    }
  }

  template <bool tf32>
  __device__ void store(typename T::shared& s, int stage, const float (&a)[T::a_per_thread],
                        const float (&b)[T::b_per_thread]) const {
    const int tid = threadIdx.x;
#pragma unroll
    for (int q = 0; q < T::a_per_thread; ++q) {
      const element e = step_major_element(tid, q);
      s.a[stage][e.step][shared_position(e.step, e.index, tf32)] = operand<tf32>(a[q]);
    }
#pragma unroll
    for (int q = 0; q < T::b_per_thread; ++q) {
      const element e = step_major_element(tid, q);
      s.b[stage][e.step][shared_position(e.step, e.index, tf32)] = operand<tf32>(b[q]);
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
// The device's compute capability is read once per device: this runs before every tf32 launch.
void require_tf32_support() {
  constexpr int cached_devices = 64;
  static std::atomic<int> majors[cached_devices];  // 0 until read (every GPU's major is >= 1)
  int device = 0, major = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  if (device < cached_devices) major = majors[device].load(std::memory_order_relaxed);
  if (major == 0) {
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    if (device < cached_devices) majors[device].store(major, std::memory_order_relaxed);
  }
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

}  // namespace
}  // namespace v3

namespace {

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

}  // namespace

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

std::int64_t workspace_v3(const conv2d_shape& s, precision) {
  return static_cast<std::int64_t>(weight_slices_v3(s)) * s.out_channels *
         (s.in_channels * s.kernel_size * s.kernel_size + 1);
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

}  // namespace trackbench::kernels::detail
