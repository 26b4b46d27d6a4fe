#include "trackbench/kernels/conv2d.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace trackbench::kernels {

std::string describe(const conv2d_shape& s) {
  return "N=" + std::to_string(s.batch) + " C=" + std::to_string(s.in_channels) + " K=" + std::to_string(s.out_channels) +
         " HxW=" + std::to_string(s.height) + "x" + std::to_string(s.width) + " kernel=" + std::to_string(s.kernel_size) +
         " padding=" + std::to_string(s.padding);
}

void check_conv2d_shape(const conv2d_shape& s) {
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("conv2d: " + what + " (" + describe(s) + ")");
  };
  require(s.kernel_size == 3 || s.kernel_size == 5, "only 3x3 and 5x5 kernels are supported");
  require(s.padding == 0 || s.padding == 1, "only padding 0 and 1 are supported");
  require(s.batch >= 1 && s.in_channels >= 1 && s.out_channels >= 1, "batch and channel counts must be >= 1");
  // The CUDA launch puts output channels on gridDim.y and slices of 32 images on gridDim.z.
  require(s.in_channels <= 65535 && s.out_channels <= 65535 && s.batch <= 65535LL * 32,
          "at most 65535 channels and 2097120 images are supported");
  require(s.height <= conv2d_max_image_size && s.width <= conv2d_max_image_size,
          "images larger than " + std::to_string(conv2d_max_image_size) + "x" + std::to_string(conv2d_max_image_size) +
              " are not supported");
  require(s.out_height() >= 1 && s.out_width() >= 1, "the image is smaller than the kernel");
}

// The loops run over one output row at a time, so the innermost loop is contiguous and the
// compiler vectorises it across x: each result is then the same sequence of float operations
// whatever the vector width, so an AVX2 clone (1.6x faster where the CPU has it; no FMA, so
// no contraction) gives bitwise the same results as the baseline one.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TRACKBENCH_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TRACKBENCH_VECTOR_CLONES
#endif

namespace {

struct row_range {
  std::int64_t begin, end;
};

// Where x + j - padding lies inside the image.
row_range inside(std::int64_t out_width, std::int64_t width, std::int64_t j, std::int64_t padding) {
  return {std::max<std::int64_t>(0, padding - j), std::min(out_width, width + padding - j)};
}

}  // namespace

TRACKBENCH_VECTOR_CLONES void conv2d_forward_reference(const float* input, const float* weight, const float* bias, float* output,
                              const conv2d_shape& s, bool relu) {
  check_conv2d_shape(s);
  const std::int64_t C = s.in_channels, K = s.out_channels, H = s.height, W = s.width, R = s.kernel_size,
                     P = s.padding, OH = s.out_height(), OW = s.out_width();
  for (std::int64_t n = 0; n < s.batch; ++n) {
    for (std::int64_t k = 0; k < K; ++k) {
      float* out = output + (n * K + k) * OH * OW;
      std::fill(out, out + OH * OW, bias != nullptr ? bias[k] : 0.0f);
      for (std::int64_t c = 0; c < C; ++c) {
        const float* in = input + (n * C + c) * H * W;
        for (std::int64_t i = 0; i < R; ++i) {
          for (std::int64_t j = 0; j < R; ++j) {
            const float w = weight[((k * C + c) * R + i) * R + j];
            const auto xs = inside(OW, W, j, P);
            for (std::int64_t y = 0; y < OH; ++y) {
              const std::int64_t iy = y + i - P;
              if (iy < 0 || iy >= H) continue;
              for (std::int64_t x = xs.begin; x < xs.end; ++x) out[y * OW + x] += w * in[iy * W + x + j - P];
            }
          }
        }
      }
      if (relu) {
        for (std::int64_t e = 0; e < OH * OW; ++e) out[e] = std::max(out[e], 0.0f);
      }
    }
  }
}

TRACKBENCH_VECTOR_CLONES void conv2d_backward_input_reference(const float* grad_output, const float* weight, float* grad_input,
                                     const conv2d_shape& s) {
  check_conv2d_shape(s);
  const std::int64_t C = s.in_channels, K = s.out_channels, H = s.height, W = s.width, R = s.kernel_size,
                     P = s.padding, OH = s.out_height(), OW = s.out_width();
  std::fill(grad_input, grad_input + s.batch * C * H * W, 0.0f);
  // Each output element spreads its gradient back over the inputs it read.
  for (std::int64_t n = 0; n < s.batch; ++n) {
    for (std::int64_t c = 0; c < C; ++c) {
      float* grad_in = grad_input + (n * C + c) * H * W;
      for (std::int64_t k = 0; k < K; ++k) {
        const float* grad_out = grad_output + (n * K + k) * OH * OW;
        for (std::int64_t i = 0; i < R; ++i) {
          for (std::int64_t j = 0; j < R; ++j) {
            const float w = weight[((k * C + c) * R + i) * R + j];
            const auto xs = inside(OW, W, j, P);
            for (std::int64_t y = 0; y < OH; ++y) {
              const std::int64_t iy = y + i - P;
              if (iy < 0 || iy >= H) continue;
              for (std::int64_t x = xs.begin; x < xs.end; ++x) grad_in[iy * W + x + j - P] += w * grad_out[y * OW + x];
            }
          }
        }
      }
    }
  }
}

TRACKBENCH_VECTOR_CLONES void conv2d_backward_weight_reference(const float* input, const float* grad_output, float* grad_weight,
                                      float* grad_bias, const conv2d_shape& s) {
  check_conv2d_shape(s);
  const std::int64_t C = s.in_channels, K = s.out_channels, H = s.height, W = s.width, R = s.kernel_size,
                     P = s.padding, OH = s.out_height(), OW = s.out_width();
  std::fill(grad_weight, grad_weight + K * C * R * R, 0.0f);
  std::fill(grad_bias, grad_bias + K, 0.0f);
  // Per-column sums over the rows first (a vectorisable loop), then the columns in order.
  std::vector<float> column_sums(static_cast<std::size_t>(OW));
  auto total = [&] {
    float sum = 0.0f;
    for (const float v : column_sums) sum += v;
    return sum;
  };
  for (std::int64_t n = 0; n < s.batch; ++n) {
    for (std::int64_t k = 0; k < K; ++k) {
      const float* grad_out = grad_output + (n * K + k) * OH * OW;
      std::fill(column_sums.begin(), column_sums.end(), 0.0f);
      for (std::int64_t y = 0; y < OH; ++y) {
        for (std::int64_t x = 0; x < OW; ++x) column_sums[x] += grad_out[y * OW + x];
      }
      grad_bias[k] += total();
      for (std::int64_t c = 0; c < C; ++c) {
        const float* in = input + (n * C + c) * H * W;
        for (std::int64_t i = 0; i < R; ++i) {
          for (std::int64_t j = 0; j < R; ++j) {
            const auto xs = inside(OW, W, j, P);
            std::fill(column_sums.begin(), column_sums.end(), 0.0f);
            for (std::int64_t y = 0; y < OH; ++y) {
              const std::int64_t iy = y + i - P;
              if (iy < 0 || iy >= H) continue;
              for (std::int64_t x = xs.begin; x < xs.end; ++x) column_sums[x] += grad_out[y * OW + x] * in[iy * W + x + j - P];
            }
            grad_weight[((k * C + c) * R + i) * R + j] += total();
          }
        }
      }
    }
  }
}

std::string conv2d_version_name(int version) {
  static const char* const names[conv2d_version_count] = {"naive", "tiled", "implicit GEMM"};
  if (version < 1 || version > conv2d_version_count) {
    throw std::invalid_argument("conv2d: no kernel version " + std::to_string(version) + "; versions are 1.." +
                                std::to_string(conv2d_version_count));
  }
  return names[version - 1];
}

#if !TRACKBENCH_WITH_CUDA
namespace {
[[noreturn]] void no_cuda(const char* function) {
  throw std::runtime_error(std::string(function) + ": this build of trackbench has no CUDA support");
}
}  // namespace

void conv2d_forward_cuda(const float*, const float*, const float*, float*, const conv2d_shape&, bool, void*, int,
                         precision) {
  no_cuda("conv2d_forward_cuda");
}
void conv2d_backward_input_cuda(const float*, const float*, float*, const conv2d_shape&, void*, int, precision,
                                const float*) {
  no_cuda("conv2d_backward_input_cuda");
}
std::int64_t conv2d_backward_weight_workspace_floats(const conv2d_shape&, int, precision) {
  no_cuda("conv2d_backward_weight_workspace_floats");
}
void conv2d_backward_weight_cuda(const float*, const float*, float*, float*, float*, const conv2d_shape&, void*, int,
                                 precision) {
  no_cuda("conv2d_backward_weight_cuda");
}
#endif

}  // namespace trackbench::kernels
