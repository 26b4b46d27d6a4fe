#pragma once
// Pixel normalisation for data kept resident as uint8: out[i] = in[i] * scale + shift,
// with scale = 1 / (255 * std) and shift = -mean / std. One pass instead of the
// four elementwise tensor ops (convert, divide, subtract, divide) it replaces.
#include <cstdint>

#include "trackbench/kernels/cuda_error.h"

namespace trackbench::kernels {

struct pixel_affine {
  float scale;
  float shift;
};

// The affine map that takes bytes 0..255 to (x / 255 - mean) / std.
pixel_affine pixel_normalisation(double mean, double std);

// CPU reference: a plain loop.
void normalize_pixels_reference(const std::uint8_t* input, float* output, std::int64_t count, pixel_affine affine);

// The same on the GPU, queued on `stream` (a cudaStream_t; nullptr is the default stream).
// `input` and `output` are device memory. Throws cuda_error from a failed launch, and a
// std::runtime_error in a build without CUDA.
void normalize_pixels_cuda(const std::uint8_t* input, float* output, std::int64_t count, pixel_affine affine,
                           void* stream);

}  // namespace trackbench::kernels
