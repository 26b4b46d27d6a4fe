#include <cuda_runtime.h>

#include <algorithm>

#include "cuda_check.h"
#include "trackbench/kernels/normalize.h"

namespace trackbench::kernels {
namespace {

// One element per thread in a grid-stride loop, so a bounded grid covers any batch.
__global__ void normalize_pixels_kernel(const std::uint8_t* __restrict__ input, float* __restrict__ output,
                                        std::int64_t count, float scale, float shift) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    output[i] = static_cast<float>(input[i]) * scale + shift;
  }
}

}  // namespace

void normalize_pixels_cuda(const std::uint8_t* input, float* output, std::int64_t count, pixel_affine affine,
                           void* stream) {
  if (count <= 0) return;
  constexpr int threads = 256;
  constexpr std::int64_t max_blocks = 4096;
  const auto blocks = static_cast<unsigned>(std::min<std::int64_t>((count + threads - 1) / threads, max_blocks));
  normalize_pixels_kernel<<<blocks, threads, 0, static_cast<cudaStream_t>(stream)>>>(input, output, count, affine.scale,
                                                                                      affine.shift);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace trackbench::kernels
