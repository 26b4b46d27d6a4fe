#pragma once
// v3's implicit-GEMM core, included by conv2d_v3.cu alone: its tiles, the tensor-core MMA and
// the main loop every pass shares.
#include "conv2d_device.cuh"
#include "conv2d_v3_layout.h"

namespace trackbench::kernels::detail {

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
//   and rows stay 16-byte aligned for the CUDA-core path's float4 reads. Each group of 4
//   steps is shifted within the padding (conv2d_v3_layout.h's shared_skew), so the stores
//   of 16 steps from a warp spread over the banks too.
//   Operands are rounded to TF32 once, when stored to shared memory, not per fragment read.
// Determinism: each result is one thread's (or one MMA lane's) running sum over the reduction
// in a fixed order; the grad-weight slices are sized from the shape alone and added in order;
// the tile is chosen from the shape alone.
namespace v3 {

template <int rows_, int cols_>
struct tile_shape {
  static constexpr int rows = rows_, cols = cols_;
  static_assert(rows * cols == threads * 32, "32 results per thread");
  static_assert(rows % 32 == 0 && cols % 32 == 0 && threads % rows == 0, "whole warp tiles, whole A rows");
  static constexpr int a_stride = shared_stride(rows);
  static constexpr int b_stride = shared_stride(cols);
  // Gathered elements per thread and stage.
  static constexpr int a_per_thread = rows * block_red / threads;
  static constexpr int b_per_thread = cols * block_red / threads;
  static constexpr int warps_m = rows / 32;  // tensor-core warp grid
  struct __align__(16) shared {
    float a[2][block_red][a_stride];  // [stage][reduction step][shared_position(step, row)]
    float b[2][block_red][b_stride];  // [stage][reduction step][shared_position(step, col)]
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

// Which results a thread holds: acc[i * cols + j] is block-local row row(i), column col(j)
// (conv2d_v3_layout.h's mma_result_* and fma_result_*).
template <class T, bool tf32>
struct thread_tile {
  static constexpr int rows = tf32 ? 4 : 8;
  static constexpr int cols = tf32 ? 8 : 4;
  __device__ static int row(int i) {
    const int tid = threadIdx.x;
    return tf32 ? mma_result_row(T::warps_m, tid / 32, tid % 32, i) : fma_result_row(T::rows, tid, i);
  }
  __device__ static int col(int j) {
    const int tid = threadIdx.x;
    return tf32 ? mma_result_col(T::warps_m, tid / 32, tid % 32, j) : fma_result_col(T::rows, tid, j);
  }
};

// One stage's math: acc += A[:, 0:16] * B[0:16, :] for this thread's results.
template <class T, bool tf32>
__device__ __forceinline__ void multiply_stage(const typename T::shared& s, int stage, float (&acc)[32]) {
  const int tid = threadIdx.x;
  if (tf32) {
    const int warp = tid / 32, lane = tid % 32;
#pragma unroll
    for (int k8 = 0; k8 < block_red; k8 += 8) {
      unsigned a[2][4], b[4][2];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const element e = a_fragment_element(T::warps_m, warp, lane, k8, mt, r);
          a[mt][r] = __float_as_uint(s.a[stage][e.step][shared_position(e.step, e.index, true)]);
        }
      }
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const element e = b_fragment_element(T::warps_m, warp, lane, k8, nt, r);
          b[nt][r] = __float_as_uint(s.b[stage][e.step][shared_position(e.step, e.index, true)]);
        }
      }
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          mma_tf32(acc[mma_accumulator(mt, nt, 0)], acc[mma_accumulator(mt, nt, 1)], acc[mma_accumulator(mt, nt, 2)],
                   acc[mma_accumulator(mt, nt, 3)], a[mt][0], a[mt][1], a[mt][2], a[mt][3], b[nt][0], b[nt][1]);
        }
      }
    }
  } else {
    const int lo_row = fma_result_row(T::rows, tid, 0), hi_row = fma_result_row(T::rows, tid, 4);
    const int col = fma_result_col(T::rows, tid, 0);
#pragma unroll
    for (int k = 0; k < block_red; ++k) {
      // Rows (columns) 4q..4q+3 of one step are contiguous: the skew moves the step's whole row.
      const float4 lo = *reinterpret_cast<const float4*>(&s.a[stage][k][shared_position(k, lo_row, false)]);
      const float4 hi = *reinterpret_cast<const float4*>(&s.a[stage][k][shared_position(k, hi_row, false)]);
      const float4 bv = *reinterpret_cast<const float4*>(&s.b[stage][k][shared_position(k, col, false)]);
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

}  // namespace v3
}  // namespace trackbench::kernels::detail
