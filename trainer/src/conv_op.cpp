#include "conv_op.h"

#include <ATen/Parallel.h>

#include <stdexcept>

#include "trackbench/kernels/conv2d.h"

#if TRACKBENCH_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace trackbench::trainer {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// CPU work is split into fixed chunks of images rather than one chunk per thread, so the
// weight gradient, summed chunk by chunk in order, does not depend on the thread count.
constexpr std::int64_t cpu_chunk_images = 8;

void check_tensor(const Tensor& t, const char* name, const Tensor& input) {
  TORCH_CHECK(t.scalar_type() == torch::kFloat32, "custom conv2d: ", name, " must be float32, got ", t.scalar_type());
  TORCH_CHECK(t.device() == input.device(), "custom conv2d: ", name, " is on ", t.device(), " but the input is on ",
              input.device());
  TORCH_CHECK(t.is_contiguous(), "custom conv2d: ", name, " must be contiguous");
}

kernels::conv2d_shape shape_of(const Tensor& input, const Tensor& weight, std::int64_t padding) {
  return {input.size(0), input.size(1), weight.size(0), input.size(2), input.size(3), weight.size(2), padding};
}

kernels::conv2d_shape checked_shape(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                    std::int64_t padding) {
  TORCH_CHECK(input.dim() == 4, "custom conv2d: input must be NCHW (4-D), got sizes ", input.sizes());
  TORCH_CHECK(weight.dim() == 4 && weight.size(2) == weight.size(3),
              "custom conv2d: weight must be [out, in, k, k], got sizes ", weight.sizes());
  TORCH_CHECK(weight.size(1) == input.size(1), "custom conv2d: the input has ", input.size(1),
              " channels but the weight expects ", weight.size(1));
  TORCH_CHECK(bias.defined() && bias.dim() == 1 && bias.size(0) == weight.size(0),
              "custom conv2d: bias must be [", weight.size(0), "]");
  TORCH_CHECK(input.is_cpu() || input.is_cuda(), "custom conv2d: unsupported device ", input.device());
  check_tensor(input, "input", input);
  check_tensor(weight, "weight", input);
  check_tensor(bias, "bias", input);
  const auto shape = shape_of(input, weight, padding);
  try {
    kernels::check_conv2d_shape(shape);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, "custom ", e.what());
  }
  return shape;
}

#if TRACKBENCH_WITH_CUDA
void* current_stream(const Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }
#else
void* current_stream(const Tensor&) { return nullptr; }  // the kernels then report the missing CUDA support
#endif

// Runs `chunk(first_image, shape_of_chunk, chunk_index)` over fixed chunks of the batch in parallel.
template <typename F>
void for_each_chunk(const kernels::conv2d_shape& shape, F chunk) {
  const std::int64_t chunks = (shape.batch + cpu_chunk_images - 1) / cpu_chunk_images;
  at::parallel_for(0, chunks, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      auto part = shape;
      part.batch = std::min(cpu_chunk_images, shape.batch - i * cpu_chunk_images);
      chunk(i * cpu_chunk_images, part, i);
    }
  });
}

// The CPU references compute IEEE FP32 whatever the precision and have no versions; the CUDA
// kernels take both (version 0: the default).
Tensor forward_output(const Tensor& input, const Tensor& weight, const Tensor& bias, const kernels::conv2d_shape& s,
                      bool relu, kernels::precision precision, int version) {
  auto output = torch::empty({s.batch, s.out_channels, s.out_height(), s.out_width()}, input.options());
  if (input.is_cuda()) {
    kernels::conv2d_forward_cuda(input.data_ptr<float>(), weight.data_ptr<float>(), bias.data_ptr<float>(),
                                 output.data_ptr<float>(), s, relu, current_stream(input), version, precision);
    return output;
  }
  const std::int64_t in_image = s.in_channels * s.height * s.width, out_image = output[0].numel();
  for_each_chunk(s, [&](std::int64_t first, const kernels::conv2d_shape& part, std::int64_t) {
    kernels::conv2d_forward_reference(input.data_ptr<float>() + first * in_image, weight.data_ptr<float>(),
                                      bias.data_ptr<float>(), output.data_ptr<float>() + first * out_image, part, relu);
  });
  return output;
}

// When `relu_input` is defined (the layer input, a ReLU's output), the result is zeroed where it
// is not positive: the CUDA kernels in their epilogue, the CPU after the reference.
Tensor input_gradient(const Tensor& grad, const Tensor& weight, const kernels::conv2d_shape& s,
                      kernels::precision precision, int version, const Tensor& relu_input) {
  auto grad_input = torch::empty({s.batch, s.in_channels, s.height, s.width}, grad.options());
  if (grad.is_cuda()) {
    kernels::conv2d_backward_input_cuda(grad.data_ptr<float>(), weight.data_ptr<float>(), grad_input.data_ptr<float>(),
                                        s, current_stream(grad), version, precision,
                                        relu_input.defined() ? relu_input.data_ptr<float>() : nullptr);
    return grad_input;
  }
  const std::int64_t in_image = grad_input[0].numel(), out_image = grad[0].numel();
  for_each_chunk(s, [&](std::int64_t first, const kernels::conv2d_shape& part, std::int64_t) {
    kernels::conv2d_backward_input_reference(grad.data_ptr<float>() + first * out_image, weight.data_ptr<float>(),
                                             grad_input.data_ptr<float>() + first * in_image, part);
  });
  return relu_input.defined() ? grad_input.masked_fill_(relu_input <= 0, 0.0) : grad_input;
}

std::pair<Tensor, Tensor> parameter_gradients(const Tensor& input, const Tensor& grad, const Tensor& weight,
                                              const kernels::conv2d_shape& s, kernels::precision precision,
                                              int version) {
  auto grad_weight = torch::empty_like(weight);
  auto grad_bias = torch::empty({s.out_channels}, grad.options());
  if (grad.is_cuda()) {
    const auto workspace =
        torch::empty({kernels::conv2d_backward_weight_workspace_floats(s, version, precision)}, grad.options());
    kernels::conv2d_backward_weight_cuda(input.data_ptr<float>(), grad.data_ptr<float>(), grad_weight.data_ptr<float>(),
                                         grad_bias.data_ptr<float>(), workspace.data_ptr<float>(), s,
                                         current_stream(grad), version, precision);
    return {grad_weight, grad_bias};
  }
  // Each chunk's sums land in its own row, then the rows are added in chunk order.
  const std::int64_t chunks = (s.batch + cpu_chunk_images - 1) / cpu_chunk_images;
  const std::int64_t weights = weight.numel();
  auto partials = torch::empty({chunks, weights + s.out_channels}, grad.options());
  const std::int64_t in_image = input[0].numel(), out_image = grad[0].numel();
  for_each_chunk(s, [&](std::int64_t first, const kernels::conv2d_shape& part, std::int64_t chunk) {
    float* row = partials.data_ptr<float>() + chunk * (weights + s.out_channels);
    kernels::conv2d_backward_weight_reference(input.data_ptr<float>() + first * in_image,
                                              grad.data_ptr<float>() + first * out_image, row, row + weights, part);
  });
  auto total = partials[0].clone();
  for (std::int64_t chunk = 1; chunk < chunks; ++chunk) total.add_(partials[chunk]);
  return {total.slice(0, 0, weights).view_as(weight), total.slice(0, weights)};
}

class conv2d_function : public torch::autograd::Function<conv2d_function> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& input, const Tensor& weight, const Tensor& bias,
                        std::int64_t padding, bool relu, kernels::precision precision, relu_mask mask,
                        std::int64_t version) {
    TORCH_CHECK(relu || mask != relu_mask::by_next_layer,
                "custom conv2d: relu_mask::by_next_layer needs the ReLU fused (relu true)");
    const auto shape = checked_shape(input, weight, bias, padding);
#if TRACKBENCH_WITH_CUDA
    const c10::cuda::OptionalCUDAGuard guard(input.is_cuda() ? std::optional<c10::Device>(input.device()) : std::nullopt);
#endif
    auto output = forward_output(input, weight, bias, shape, relu, precision, static_cast<int>(version));
    // With ReLU fused, the output tells backward where the gradient passes, unless the next
    // layer applies that mask. With from_input, the input tells grad-input the same.
    ctx->save_for_backward({input, weight, relu && mask == relu_mask::own ? output : Tensor()});
    ctx->saved_data["mask_grad_input"] = mask == relu_mask::from_input;
    ctx->saved_data["padding"] = padding;
    // The run's precision, for the backward passes' kernels as for forward's.
    ctx->saved_data["precision"] = static_cast<std::int64_t>(precision);
    ctx->saved_data["version"] = version;
    return output;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& input = saved[0];
    const Tensor& weight = saved[1];
    const Tensor& output = saved[2];
    const auto shape = shape_of(input, weight, ctx->saved_data["padding"].toInt());
    const auto precision = static_cast<kernels::precision>(ctx->saved_data["precision"].toInt());
    const auto version = static_cast<int>(ctx->saved_data["version"].toInt());
#if TRACKBENCH_WITH_CUDA
    const c10::cuda::OptionalCUDAGuard guard(input.is_cuda() ? std::optional<c10::Device>(input.device()) : std::nullopt);
#endif
    Tensor grad = grad_outputs[0].contiguous();
    if (output.defined()) grad = grad.masked_fill(output <= 0, 0.0);
    Tensor grad_input, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      grad_input = input_gradient(grad, weight, shape, precision, version,
                                  ctx->saved_data["mask_grad_input"].toBool() ? input : Tensor());
    }
    if (ctx->needs_input_grad(1) || ctx->needs_input_grad(2)) {
      std::tie(grad_weight, grad_bias) = parameter_gradients(input, grad, weight, shape, precision, version);
    }
    return {grad_input, grad_weight, grad_bias, Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

}  // namespace

Tensor custom_conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, std::int64_t padding, bool relu,
                     kernels::precision precision, relu_mask mask, int kernel_version) {
  return conv2d_function::apply(input, weight, bias, padding, relu, precision, mask,
                                static_cast<std::int64_t>(kernel_version));
}

}  // namespace trackbench::trainer
