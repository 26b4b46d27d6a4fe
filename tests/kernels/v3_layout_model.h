#pragma once
// A host model of v3's implicit GEMM (kernels/src/conv2d_v3.cu) for tests/test_kernels.cpp: every
// thread's shared-memory stores, every lane's fragment or float4 reads and the epilogue, through
// the kernels' own index maps (conv2d_v3_layout.h, which nvcc and the host compiler both take),
// with the tensor-core MMA emulated from the PTX ISA's definition of its fragments.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "conv2d_v3_layout.h"

namespace trackbench::kernels::v3_model {

namespace v3 = detail::v3;

// mma.sync.m16n8k8.row.col.f32.tf32.tf32.f32 as the PTX ISA's fragment tables define it, written
// here apart from the kernel's maps: lane l = 4g + t holds a0..a3 = A[g][t], A[g+8][t],
// A[g][t+4], A[g+8][t+4]; b0, b1 = B[t][g], B[t+4][g]; d0..d3 = D[g][2t], D[g][2t+1], D[g+8][2t],
// D[g+8][2t+1]; D += A B. (No TF32 rounding: these tests check where values go, not how they round.)
inline void emulate_mma_m16n8k8(const float (&a)[32][4], const float (&b)[32][2], float* (&d)[32][4]) {
  float A[16][8], B[8][8];
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    A[g][t] = a[lane][0], A[g + 8][t] = a[lane][1], A[g][t + 4] = a[lane][2], A[g + 8][t + 4] = a[lane][3];
    B[t][g] = b[lane][0], B[t + 4][g] = b[lane][1];
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    const int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
    for (int r = 0; r < 4; ++r) {
      for (int k = 0; k < 8; ++k) *d[lane][r] += A[rows[r]][k] * B[k][cols[r]];
    }
  }
}

// One block tile of v3's GEMM: its shape, and whether A is gathered as forward and grad-input
// gather it (conv_a_element) or as grad-weight does (step_major_element).
struct gemm_tile {
  int rows, cols;
  bool forward_a;
};
inline constexpr gemm_tile v3_tiles[] = {{128, 64, true}, {256, 32, true}, {128, 64, false}};

inline v3::element a_store_element(const gemm_tile& tile, int tid, int q) {
  return tile.forward_a ? v3::conv_a_element(tile.rows, tid, q) : v3::step_major_element(tid, q);
}

// One stage in shared memory as the kernel lays it out: the A rows, then the B rows (float
// offsets from the start of the stage pair, so that banks are offset % 32).
struct shared_model {
  int a_stride, b_stride;
  std::vector<float> floats;
  explicit shared_model(const gemm_tile& tile)
      : a_stride(v3::shared_stride(tile.rows)), b_stride(v3::shared_stride(tile.cols)),
        floats(static_cast<std::size_t>(2 * v3::block_red * (a_stride + b_stride)),
               std::numeric_limits<float>::quiet_NaN()) {}  // NaN: a read of what no thread stored shows
  int a_offset(int stage, int step, int position) const { return (stage * v3::block_red + step) * a_stride + position; }
  int b_offset(int stage, int step, int position) const {
    return 2 * v3::block_red * a_stride + (stage * v3::block_red + step) * b_stride + position;
  }
};

// The most lanes of one warp-wide access that hit one bank at different addresses.
inline int bank_ways(const std::vector<int>& offsets) {
  std::map<int, std::vector<int>> by_bank;
  for (const int offset : offsets) {
    auto& in_bank = by_bank[offset % 32];
    if (std::find(in_bank.begin(), in_bank.end(), offset) == in_bank.end()) in_bank.push_back(offset);
  }
  int ways = 0;
  for (const auto& [bank, in_bank] : by_bank) ways = std::max(ways, static_cast<int>(in_bank.size()));
  return ways;
}

// C = A B for a tile over `steps` stages of the reduction, every thread's stores, fragment reads
// (tensor cores) or float4 reads (CUDA cores), MMAs or FMAs and epilogue emulated through the
// kernel's maps; returns C[row][col] as the epilogue writes it.
inline std::vector<float> emulate_v3_gemm(const gemm_tile& tile, bool tf32, int steps, const std::vector<float>& a,
                                   const std::vector<float>& b) {
  const int red = steps * v3::block_red, a_per_thread = tile.rows * v3::block_red / v3::threads,
            b_per_thread = tile.cols * v3::block_red / v3::threads, warps_m = tile.rows / 32;
  std::vector<std::vector<float>> acc(v3::threads, std::vector<float>(32, 0.0f));
  shared_model s(tile);
  for (int step = 0; step < steps; ++step) {
    const int stage = step % 2;
    std::vector<int> stored(s.floats.size(), 0);
    for (int tid = 0; tid < v3::threads; ++tid) {
      for (int q = 0; q < a_per_thread; ++q) {
        const auto e = a_store_element(tile, tid, q);
        const int at = s.a_offset(stage, e.step, v3::shared_position(e.step, e.index, tf32));
        s.floats[at] = a[static_cast<std::size_t>(e.index) * red + step * v3::block_red + e.step];
        ++stored[at];
      }
      for (int q = 0; q < b_per_thread; ++q) {
        const auto e = v3::step_major_element(tid, q);
        const int at = s.b_offset(stage, e.step, v3::shared_position(e.step, e.index, tf32));
        s.floats[at] = b[static_cast<std::size_t>(step * v3::block_red + e.step) * tile.cols + e.index];
        ++stored[at];
      }
    }
    EXPECT_EQ(std::count(stored.begin(), stored.end(), 1), (tile.rows + tile.cols) * v3::block_red)
        << "every element of a stage stored once, each to its own place";
    if (tf32) {
      for (int warp = 0; warp < v3::threads / 32; ++warp) {
        for (int k8 = 0; k8 < v3::block_red; k8 += 8) {
          float fa[2][32][4], fb[4][32][2];
          for (int lane = 0; lane < 32; ++lane) {
            for (int mt = 0; mt < 2; ++mt) {
              for (int r = 0; r < 4; ++r) {
                const auto e = v3::a_fragment_element(warps_m, warp, lane, k8, mt, r);
                fa[mt][lane][r] = s.floats[s.a_offset(stage, e.step, v3::shared_position(e.step, e.index, true))];
              }
            }
            for (int nt = 0; nt < 4; ++nt) {
              for (int r = 0; r < 2; ++r) {
                const auto e = v3::b_fragment_element(warps_m, warp, lane, k8, nt, r);
                fb[nt][lane][r] = s.floats[s.b_offset(stage, e.step, v3::shared_position(e.step, e.index, true))];
              }
            }
          }
          for (int mt = 0; mt < 2; ++mt) {
            for (int nt = 0; nt < 4; ++nt) {
              float* d[32][4];
              for (int lane = 0; lane < 32; ++lane) {
                for (int r = 0; r < 4; ++r) d[lane][r] = &acc[warp * 32 + lane][v3::mma_accumulator(mt, nt, r)];
              }
              emulate_mma_m16n8k8(fa[mt], fb[nt], d);
            }
          }
        }
      }
    } else {
      for (int tid = 0; tid < v3::threads; ++tid) {
        for (int k = 0; k < v3::block_red; ++k) {
          // Each float4 read: 16-byte aligned, its four floats the step's next four rows (columns).
          const auto read4 = [&](int offset, float* out) {
            EXPECT_EQ(offset % 4, 0) << "float4 read at float " << offset;
            std::copy_n(s.floats.begin() + offset, 4, out);
          };
          float av[8], bv[4];
          read4(s.a_offset(stage, k, v3::shared_position(k, v3::fma_result_row(tile.rows, tid, 0), false)), av);
          read4(s.a_offset(stage, k, v3::shared_position(k, v3::fma_result_row(tile.rows, tid, 4), false)), av + 4);
          read4(s.b_offset(stage, k, v3::shared_position(k, v3::fma_result_col(tile.rows, tid, 0), false)), bv);
          for (int i = 0; i < 8; ++i) {
            for (int j = 0; j < 4; ++j) acc[tid][i * 4 + j] = std::fma(av[i], bv[j], acc[tid][i * 4 + j]);
          }
        }
      }
    }
  }
  std::vector<float> c(static_cast<std::size_t>(tile.rows) * tile.cols, std::numeric_limits<float>::quiet_NaN());
  std::vector<int> written(c.size(), 0);
  const int result_rows = tf32 ? 4 : 8, result_cols = tf32 ? 8 : 4;
  for (int tid = 0; tid < v3::threads; ++tid) {
    for (int i = 0; i < result_rows; ++i) {
      for (int j = 0; j < result_cols; ++j) {
        const int row =
            tf32 ? v3::mma_result_row(warps_m, tid / 32, tid % 32, i) : v3::fma_result_row(tile.rows, tid, i);
        const int col =
            tf32 ? v3::mma_result_col(warps_m, tid / 32, tid % 32, j) : v3::fma_result_col(tile.rows, tid, j);
        const auto at = static_cast<std::size_t>(row) * tile.cols + col;
        c[at] = acc[tid][i * result_cols + j];
        ++written[at];
      }
    }
  }
  EXPECT_EQ(std::count(written.begin(), written.end(), 1), tile.rows * tile.cols) << "every result written once";
  return c;
}

}  // namespace trackbench::kernels::v3_model
