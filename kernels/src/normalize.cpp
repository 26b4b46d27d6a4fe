#include "trackbench/kernels/normalize.h"

#include <stdexcept>

namespace trackbench::kernels {

pixel_affine pixel_normalisation(double mean, double std) {
  return {static_cast<float>(1.0 / (255.0 * std)), static_cast<float>(-mean / std)};
}

void normalize_pixels_reference(const std::uint8_t* input, float* output, std::int64_t count, pixel_affine affine) {
  for (std::int64_t i = 0; i < count; ++i) output[i] = static_cast<float>(input[i]) * affine.scale + affine.shift;
}

#if !TRACKBENCH_WITH_CUDA
void normalize_pixels_cuda(const std::uint8_t*, float*, std::int64_t, pixel_affine, void*) {
  throw std::runtime_error("normalize_pixels_cuda: this build of trackbench has no CUDA support");
}
#endif

}  // namespace trackbench::kernels
