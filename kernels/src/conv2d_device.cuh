#pragma once
// What the kernel versions (conv2d_v1.cu, conv2d_v2.cu, conv2d_v3.cu) share on the host side of
// their launches: the index type, the grid of the one-thread-per-element kernels, the layer's sizes.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "cuda_check.h"
#include "trackbench/kernels/conv2d.h"

namespace trackbench::kernels::detail {

using index_t = std::int64_t;

// Grid-stride launches for the one-thread-per-element kernels: a bounded grid covers any size.
constexpr int elementwise_threads = 256;
inline unsigned elementwise_blocks(index_t count) {
  return static_cast<unsigned>(std::min<index_t>((count + elementwise_threads - 1) / elementwise_threads, 65535));
}

// The layer's sizes as the kernels take them.
struct dims {
  int N, C, K, H, W, R, P, OH, OW;
  explicit dims(const conv2d_shape& s)
      : N(static_cast<int>(s.batch)), C(static_cast<int>(s.in_channels)), K(static_cast<int>(s.out_channels)),
        H(static_cast<int>(s.height)), W(static_cast<int>(s.width)), R(static_cast<int>(s.kernel_size)),
        P(static_cast<int>(s.padding)), OH(static_cast<int>(s.out_height())), OW(static_cast<int>(s.out_width())) {}
};

}  // namespace trackbench::kernels::detail
