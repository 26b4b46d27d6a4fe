#pragma once
// v3's index maps, in one place for the kernels (conv2d_v3_gemm.cuh, conv2d_v3.cu) and for the
// host model that checks them lane by lane (tests/test_kernels.cpp): which operand element each
// thread gathers and where it stores it in shared memory, which element each tensor-core
// fragment register and each CUDA-core read takes from there, and which result each
// accumulator holds. Plain constexpr functions, compiled by nvcc and by the host compiler alike.
#if defined(__CUDACC__)
#define TRACKBENCH_HOST_DEVICE __host__ __device__
#else
#define TRACKBENCH_HOST_DEVICE
#endif

namespace trackbench::kernels::detail::v3 {

constexpr int threads = 256;
constexpr int block_red = 16;  // reduction steps per shared-memory stage
constexpr int shared_pad = 8;  // floats after each shared row

// One element of a stage's operand: its reduction step (0..block_red-1) and its row of A or
// column of B within the block tile.
struct element {
  int step, index;
};

// A stage holds each operand as block_red shared rows of `extent` (the tile's rows or columns)
// padded to shared_stride(extent) floats; element (step, index) sits at position
// shared_position(step, index) of row `step`. The skew shifts steps 4s..4s+3 by a multiple of
// the padding's quarter, so that a warp's stores of 16 steps of two columns (every operand but
// the forward A) spread over the banks: with a stride of 8 mod 32 banks, steps 0, 4, 8, 12
// would otherwise share a bank (4-way conflicts). Tensor cores: skews 0, 2, 4, 6 give 32
// distinct banks; CUDA cores read float4s, so the skew stays a multiple of 4 (0 or 4) and the
// stores are 2-way. A fragment read or a float4 read takes one step across the warp, which the
// skew shifts as a whole, so the reads stay as conflict-free as without it.
TRACKBENCH_HOST_DEVICE constexpr int shared_stride(int extent) { return extent + shared_pad; }
TRACKBENCH_HOST_DEVICE constexpr int shared_skew(int step, bool tf32) {
  return tf32 ? 2 * (step / 4 % 4) : 4 * (step / 4 % 2);
}
TRACKBENCH_HOST_DEVICE constexpr int shared_position(int step, int index, bool tf32) {
  return index + shared_skew(step, tf32);
}

// What thread `tid` gathers as its value q of a stage. The forward and grad-input A: row
// tid % rows at step tid / rows + (threads / rows) * q (a warp reads consecutive output
// positions: coalesced). Every other operand (their B, both of grad-weight's): step
// tid % block_red, index tid / block_red + (threads / block_red) * q (a warp reads 16
// consecutive reduction positions: coalesced).
TRACKBENCH_HOST_DEVICE constexpr element conv_a_element(int rows, int tid, int q) {
  return {tid / rows + threads / rows * q, tid % rows};
}
TRACKBENCH_HOST_DEVICE constexpr element step_major_element(int tid, int q) {
  return {tid % block_red, tid / block_red + threads / block_red * q};
}

// Tensor cores: warp w of a tile with warps_m warps along its rows owns the 32 x 32 results at
// rows 32 * (w % warps_m), columns 32 * (w / warps_m), as 2 x 4 tiles of mma.m16n8k8 (mt, nt).
// For the reduction steps k8..k8+7 of a stage, lane l (g = l / 4, t = l % 4) loads, per the
// PTX ISA's .tf32 fragments of mma.m16n8k8, A register r of tile mt from row g + 8 (r % 2) at
// step t + 4 (r / 2), and B register r of tile nt from column g at step t + 4r.
TRACKBENCH_HOST_DEVICE constexpr element a_fragment_element(int warps_m, int warp, int lane, int k8, int mt, int r) {
  return {k8 + lane % 4 + 4 * (r / 2), (warp % warps_m) * 32 + mt * 16 + lane / 4 + 8 * (r % 2)};
}
TRACKBENCH_HOST_DEVICE constexpr element b_fragment_element(int warps_m, int warp, int lane, int k8, int nt, int r) {
  return {k8 + lane % 4 + 4 * r, (warp / warps_m) * 32 + nt * 8 + lane / 4};
}
// The accumulator that D register r of tile (mt, nt) is: D[g + 8 (r / 2)][2t + r % 2] of the
// tile, row slot 2 mt + r / 2 and column slot 2 nt + r % 2 of the thread's 4 x 8.
TRACKBENCH_HOST_DEVICE constexpr int mma_accumulator(int mt, int nt, int r) {
  return (2 * mt + r / 2) * 8 + 2 * nt + r % 2;
}
// The block-local row and column of accumulator row slot i and column slot j (acc[i * 8 + j]).
TRACKBENCH_HOST_DEVICE constexpr int mma_result_row(int warps_m, int warp, int lane, int i) {
  return (warp % warps_m) * 32 + (i / 2) * 16 + (i % 2) * 8 + lane / 4;
}
TRACKBENCH_HOST_DEVICE constexpr int mma_result_col(int warps_m, int warp, int lane, int j) {
  return (warp / warps_m) * 32 + (j / 2) * 8 + (lane % 4) * 2 + j % 2;
}

// CUDA cores: thread tid (tm = tid % (rows / 8), tn = tid / (rows / 8)) holds the 8 x 4 results
// at rows 4tm..4tm+3 and rows/2+4tm..rows/2+4tm+3 (two float4 reads per step, contiguous across
// the threads of a warp with one tn) and columns 4tn..4tn+3 (acc[i * 4 + j]); each step it reads
// A at those rows and B at those columns.
TRACKBENCH_HOST_DEVICE constexpr int fma_result_row(int rows, int tid, int i) {
  return (i < 4 ? 0 : rows / 2) + (tid % (rows / 8)) * 4 + i % 4;
}
TRACKBENCH_HOST_DEVICE constexpr int fma_result_col(int rows, int tid, int j) { return (tid / (rows / 8)) * 4 + j; }

}  // namespace trackbench::kernels::detail::v3
