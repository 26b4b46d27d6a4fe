#include "trackbench/trainer/model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace trackbench::trainer {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Per output element, which of its window's four pixels won (bits 0-1) and whether the
// gradient passes at all (bit 2: kept by dropout and positive after the ReLU).
constexpr std::uint8_t gradient_passes = 4;

// splitmix64's finaliser: a counter-based hash, so element i's draw needs no sequential state.
std::uint32_t element_draw(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed + (index + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return static_cast<std::uint32_t>((z ^ (z >> 31)) >> 32);
}

struct dropout_draw {
  std::uint64_t seed = 0;
  std::uint64_t keep_below = std::uint64_t{1} << 32;  // an element is kept when its draw is below this
  float scale = 1.0f;
};

dropout_draw draw_dropout(double drop) {
  dropout_draw draw;
  if (drop == 0.0) return draw;
  auto generator = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    draw.seed = at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
  }
  draw.keep_below = static_cast<std::uint64_t>(std::ldexp(1.0 - drop, 32));
  draw.scale = static_cast<float>(1.0 / (1.0 - drop));
  return draw;
}

// One row of 2x2 windows (top and bottom input rows): each window's maximum and which pixel won.
void pool_row(const float* top, const float* bottom, std::int64_t out_width, float* value, std::uint8_t* winner) {
  std::int64_t j = 0;
#if defined(__SSE2__)
  // Four windows at a time, with the loop's comparisons in the loop's order, so bitwise the same
  // values and winners: the compiler vectorises that loop only for rows longer than the model's
  // 12 windows, and left it scalar with jumps on the data.
  const auto takes = [](__m128 x, __m128 v) { return _mm_or_ps(_mm_cmpgt_ps(x, v), _mm_cmpunord_ps(x, x)); };
  const auto select = [](__m128 mask, __m128 x, __m128 y) {
    return _mm_or_ps(_mm_and_ps(mask, x), _mm_andnot_ps(mask, y));
  };
  for (; j + 4 <= out_width; j += 4) {
    const __m128 top_low = _mm_loadu_ps(top + 2 * j), top_high = _mm_loadu_ps(top + 2 * j + 4);
    const __m128 bottom_low = _mm_loadu_ps(bottom + 2 * j), bottom_high = _mm_loadu_ps(bottom + 2 * j + 4);
    const __m128 a = _mm_shuffle_ps(top_low, top_high, _MM_SHUFFLE(2, 0, 2, 0));
    const __m128 b = _mm_shuffle_ps(top_low, top_high, _MM_SHUFFLE(3, 1, 3, 1));
    const __m128 c = _mm_shuffle_ps(bottom_low, bottom_high, _MM_SHUFFLE(2, 0, 2, 0));
    const __m128 d = _mm_shuffle_ps(bottom_low, bottom_high, _MM_SHUFFLE(3, 1, 3, 1));
    __m128 mask = takes(b, a);
    __m128 v = select(mask, b, a);
    __m128 w = _mm_and_ps(mask, _mm_castsi128_ps(_mm_set1_epi32(1)));
    mask = takes(c, v);
    v = select(mask, c, v);
    w = select(mask, _mm_castsi128_ps(_mm_set1_epi32(2)), w);
    mask = takes(d, v);
    v = select(mask, d, v);
    w = select(mask, _mm_castsi128_ps(_mm_set1_epi32(3)), w);
    _mm_storeu_ps(value + j, v);
    const __m128i words = _mm_castps_si128(w);
    const int bytes = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(words, words), _mm_setzero_si128()));
    std::memcpy(winner + j, &bytes, sizeof bytes);
  }
#endif
  for (; j < out_width; ++j) {
    // The first maximum wins ties, as in max_pool2d; a NaN wins and propagates.
    const float a = top[2 * j], b = top[2 * j + 1], c = bottom[2 * j], d = bottom[2 * j + 1];
    const bool takes_b = b > a || b != b;
    float v = takes_b ? b : a;
    std::uint8_t w = takes_b ? 1 : 0;
    const bool takes_c = c > v || c != c;
    v = takes_c ? c : v;
    w = takes_c ? 2 : w;
    const bool takes_d = d > v || d != d;
    value[j] = takes_d ? d : v;
    winner[j] = takes_d ? 3 : w;
  }
}

// The shape the pooling works on: planes of height x width pooled to out_height x out_width.
struct plane_shape {
  std::int64_t height, width, out_height, out_width;
};

// Planes [begin, end) of the forward. Everything comes by value: ATen's parallel_for hands its
// lambda to OpenMP by address, and the op's byte stores (the routes) could then alias anything the
// lambda captured by reference, so each store made the loops reload their pointers and the draw.
void forward_planes(const float* in, float* out, std::uint8_t* routes, dropout_draw draw, plane_shape s,
                    std::int64_t begin, std::int64_t end) {
  const std::int64_t out_plane = s.out_height * s.out_width;
  std::vector<float> value(static_cast<std::size_t>(s.out_width));
  std::vector<std::uint8_t> winner(value.size()), keep(value.size());
  // Row by row in three passes (pool, dropout draws, results) whose selects are not branches: in
  // one pass per element the data-dependent jumps made this op a sixth of a batch-64 step; this
  // takes 40% less time for the same results.
  for (std::int64_t p = begin; p < end; ++p) {
    for (std::int64_t i = 0; i < s.out_height; ++i) {
      const float* top = in + (p * s.height + 2 * i) * s.width;
      const float* bottom = top + s.width;
      const std::int64_t row = p * out_plane + i * s.out_width;
      pool_row(top, bottom, s.out_width, value.data(), winner.data());
      for (std::int64_t j = 0; j < s.out_width; ++j) {
        keep[j] = element_draw(draw.seed, static_cast<std::uint64_t>(row + j)) < draw.keep_below;
      }
      for (std::int64_t j = 0; j < s.out_width; ++j) {
        // A mask on the bits, not `&&` and `?:`: the compiler made those a jump on the draw,
        // mispredicted for every other element.
        const auto passes = static_cast<std::uint32_t>(keep[j]) & static_cast<std::uint32_t>(!(value[j] <= 0.0f));
        const float scaled = value[j] * draw.scale;
        std::uint32_t bits;
        std::memcpy(&bits, &scaled, sizeof bits);
        bits &= 0u - passes;  // +0.0f where the element is dropped or not positive
        std::memcpy(out + row + j, &bits, sizeof bits);
        routes[row + j] = static_cast<std::uint8_t>(winner[j] | (passes * gradient_passes));
      }
    }
  }
}

Tensor forward_cpu(const Tensor& input, const dropout_draw& draw, Tensor& route) {
  const plane_shape shape{input.size(2), input.size(3), input.size(2) / 2, input.size(3) / 2};
  auto output = torch::empty({input.size(0), input.size(1), shape.out_height, shape.out_width}, input.options());
  route = torch::empty(output.sizes(), input.options().dtype(torch::kUInt8));
  const float* in = input.data_ptr<float>();
  float* out = output.data_ptr<float>();
  std::uint8_t* routes = route.data_ptr<std::uint8_t>();
  at::parallel_for(0, input.size(0) * input.size(1), 1, [&](std::int64_t begin, std::int64_t end) {
    forward_planes(in, out, routes, draw, shape, begin, end);
  });
  return output;
}

// Planes [begin, end) of the backward; by value for the reason forward_planes gives.
void backward_planes(const float* grad, const std::uint8_t* routes, float* grad_in, float scale, plane_shape s,
                     std::int64_t begin, std::int64_t end) {
  for (std::int64_t p = begin; p < end; ++p) {
    for (std::int64_t i = 0; i < s.out_height; ++i) {
      // Masks on the bits, in registers: a window array written at the winner's index and read
      // back whole stalled on store forwarding, and a branch on the route was mispredicted.
      for (std::int64_t j = 0; j < s.out_width; ++j) {
        const std::int64_t o = (p * s.out_height + i) * s.out_width + j;
        float* top = grad_in + (p * s.height + 2 * i) * s.width + 2 * j;
        const std::uint32_t r = routes[o];
        const float scaled = grad[o] * scale;
        std::uint32_t bits;
        std::memcpy(&bits, &scaled, sizeof bits);
        bits &= 0u - ((r & gradient_passes) >> 2);  // +0.0f everywhere when the gradient stops
        const std::uint32_t w = r & 3;
        const std::uint32_t window[4] = {bits & (0u - (w == 0)), bits & (0u - (w == 1)), bits & (0u - (w == 2)),
                                         bits & (0u - (w == 3))};
        std::memcpy(top, window, 2 * sizeof(float));
        std::memcpy(top + s.width, window + 2, 2 * sizeof(float));
      }
    }
  }
}

Tensor backward_cpu(const Tensor& grad_output, const Tensor& route, at::IntArrayRef input_sizes, float scale) {
  const plane_shape shape{input_sizes[2], input_sizes[3], grad_output.size(2), grad_output.size(3)};
  // Every window is written whole below; only the row or column an odd size leaves out needs zeros.
  auto grad_input = shape.height % 2 == 0 && shape.width % 2 == 0 ? torch::empty(input_sizes, grad_output.options())
                                                                  : torch::zeros(input_sizes, grad_output.options());
  const float* grad = grad_output.data_ptr<float>();
  const std::uint8_t* routes = route.data_ptr<std::uint8_t>();
  float* grad_in = grad_input.data_ptr<float>();
  at::parallel_for(0, grad_output.size(0) * grad_output.size(1), 1, [&](std::int64_t begin, std::int64_t end) {
    backward_planes(grad, routes, grad_in, scale, shape, begin, end);
  });
  return grad_input;
}

class pool_relu_dropout_function : public torch::autograd::Function<pool_relu_dropout_function> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& input, double drop) {
    TORCH_CHECK(input.is_cpu(), "pool_relu_dropout: runs on the CPU; got a tensor on ", input.device());
    TORCH_CHECK(input.scalar_type() == torch::kFloat32, "pool_relu_dropout: input must be float32, got ",
                input.scalar_type());
    TORCH_CHECK(input.dim() == 4 && input.size(2) >= 2 && input.size(3) >= 2,
                "pool_relu_dropout: input must be [N, C, H, W] with H, W >= 2, got sizes ", input.sizes());
    TORCH_CHECK(drop >= 0.0 && drop < 1.0, "pool_relu_dropout: drop probability must be in [0, 1), got ", drop);
    const auto draw = draw_dropout(drop);
    Tensor route;
    auto output = forward_cpu(input.contiguous(), draw, route);
    ctx->save_for_backward({route});
    ctx->saved_data["input_sizes"] = input.sizes();
    ctx->saved_data["scale"] = static_cast<double>(draw.scale);
    return output;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto route = ctx->get_saved_variables()[0];
    const auto input_sizes = ctx->saved_data["input_sizes"].toIntVector();
    const auto scale = static_cast<float>(ctx->saved_data["scale"].toDouble());
    return {backward_cpu(grad_outputs[0].contiguous(), route, input_sizes, scale), Tensor()};
  }
};

}  // namespace

Tensor pool_relu_dropout(const Tensor& input, double drop) { return pool_relu_dropout_function::apply(input, drop); }

}  // namespace trackbench::trainer
