#include "trackbench/trainer/evaluate.h"

#include <chrono>
#include <map>

#include "evaluation_pass.h"
#include "saved_tensors.h"
#include "trackbench/kernels/normalize.h"
#include "trackbench/trainer/errors.h"

#if TRACKBENCH_WITH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace trackbench::trainer {
namespace {

// MNIST's pixel mean and standard deviation, as PyTorch's example normalises with.
constexpr double pixel_mean = 0.1307;
constexpr double pixel_std = 0.3081;

// LibTorch's current stream for the device, so custom kernels queue behind its work.
void* current_cuda_stream(const torch::Device& device) {
#if TRACKBENCH_WITH_CUDA
  return c10::cuda::getCurrentCUDAStream(device.index()).stream();
#else
  (void)device;
  return nullptr;
#endif
}

}  // namespace

torch::Tensor normalise_images(const torch::Tensor& images, const torch::Device& device) {
  static const kernels::pixel_affine affine = kernels::pixel_normalisation(pixel_mean, pixel_std);
  const auto input = images.contiguous();
  auto output = torch::empty(input.sizes(), input.options().dtype(torch::kFloat32));
  if (device.is_cuda()) {
    kernels::normalize_pixels_cuda(input.data_ptr<std::uint8_t>(), output.data_ptr<float>(), input.numel(), affine,
                                   current_cuda_stream(device));
  } else {
    kernels::normalize_pixels_reference(input.data_ptr<std::uint8_t>(), output.data_ptr<float>(), input.numel(), affine);
  }
  return output;
}

void add_evaluation_sums(digit_cnn& model, const torch::Tensor& images, const torch::Tensor& labels, std::int64_t first,
                         std::int64_t last, std::int64_t batch_size, const torch::Device& device, torch::Tensor& loss_sum,
                         torch::Tensor& confusion) {
  torch::NoGradGuard no_grad;
  for (std::int64_t begin = first; begin < last; begin += batch_size) {
    const std::int64_t end = std::min(last, begin + batch_size);
    const auto output = model->forward(normalise_images(images.slice(0, begin, end), device));
    const auto batch_labels = labels.slice(0, begin, end);
    loss_sum += torch::nll_loss(output, batch_labels, {}, at::Reduction::Sum).to(torch::kFloat64);
    confusion += torch::bincount(batch_labels * class_count + output.argmax(1), {}, class_count * class_count);
  }
}

classification_metrics evaluation_metrics(const torch::Tensor& loss_sum, const torch::Tensor& confusion, std::int64_t count) {
  classification_metrics metrics;
  metrics.loss = loss_sum.item<double>() / static_cast<double>(count);
  const auto counts = confusion.cpu();
  const auto* values = counts.data_ptr<std::int64_t>();
  for (int actual = 0; actual < class_count; ++actual) {
    for (int predicted = 0; predicted < class_count; ++predicted) {
      metrics.confusion[actual][predicted] = values[actual * class_count + predicted];
    }
  }
  derive_from_confusion(metrics);
  return metrics;
}

evaluation_result evaluate(digit_cnn& model, const data_split& split, std::int64_t batch_size, const torch::Device& device) {
  if (batch_size < 1) throw input_error("--batch-size " + std::to_string(batch_size) + ": expected at least 1");
  if (split.size() == 0) throw input_error("the split to evaluate on holds no images");
  const auto images = split.images.to(device);
  const auto labels = split.labels.to(device);
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  auto confusion = torch::zeros({class_count * class_count}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  model->eval();
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
  const auto start = std::chrono::steady_clock::now();
  add_evaluation_sums(model, images, labels, 0, split.size(), batch_size, device, loss_sum, confusion);
  evaluation_result result;
  result.metrics = evaluation_metrics(loss_sum, confusion, split.size());  // waits for the device
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.images_per_second = result.seconds > 0 ? static_cast<double>(split.size()) / result.seconds : 0.0;
  return result;
}

void load_parameters(digit_cnn& model, const std::vector<std::pair<std::string, torch::Tensor>>& parameters) {
  std::map<std::string, torch::Tensor> saved(parameters.begin(), parameters.end());
  torch::NoGradGuard no_grad;
  // Checked in full before any is copied, so a refused set leaves the model as it was.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  for (const auto& item : model->named_parameters()) {
    copies.emplace_back(item.value(), take_saved(saved, item.key(), item.value(), "weights"));
  }
  if (!saved.empty()) throw input_error("saved weights have '" + saved.begin()->first + "', which this model lacks");
  for (auto& [parameter, value] : copies) parameter.copy_(value);
}

}  // namespace trackbench::trainer
