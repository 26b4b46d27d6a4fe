// CUDA graphs for a CUDA run: each training batch size (the full batch and the last, partial
// one) and each evaluation batch size is captured once, after eager warm-up steps whose effects
// are undone, and replayed with its inputs copied into static buffers. A replay runs the same
// kernels on the same values as the eager step it stands for: the dropout masks come from the
// CUDA generator's philox offsets, which the capture registers and each replay advances as
// the eager ops would; Adam reads its rate and step counts from float32 device tensors, SGD its
// rate, the same floats eager CUDA steps pass them (both round their rate to float32). Each
// capture is guarded (graph_capture.h): one that throws is given up, and CUDA stays usable.
#include <stdexcept>

#include "cuda_graphs.h"
#include "evaluation_pass.h"
#include "trackbench/trainer/device_rate_sgd.h"
#include "trackbench/trainer/fused_adam.h"
#include "trackbench/trainer/graph_shapes.h"

#if TRACKBENCH_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace trackbench::trainer {

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> trainer::zeroed_graph_totals() {
  graphs_->losses.zero_();
  graphs_->loss_sum.zero_();
  graphs_->correct.zero_();
  return {graphs_->losses, graphs_->loss_sum, graphs_->correct};
}

#if TRACKBENCH_WITH_CUDA

namespace {

// Eager steps of each shape before its capture, so that LibTorch, cuBLAS and cuDNN create their
// handles, workspaces and autograd streams outside the graph, as PyTorch's whole-network
// capture does (torch.cuda.make_graphed_callables warms up three times).
constexpr int warmup_steps = 3;

// `waiting` continues only after the work queued on `first` so far.
void order_after(const c10::cuda::CUDAStream& first, const c10::cuda::CUDAStream& waiting) {
  at::cuda::CUDAEvent done;
  done.record(first);
  done.block(waiting);
}

}  // namespace

void trainer::capture_graphs() {
  auto graphs = std::make_unique<cuda_graphs>();
  const auto on_device = [&](torch::ScalarType type) { return torch::TensorOptions().dtype(type).device(device_); };
  const std::int64_t steps = steps_per_epoch();
  graphs->learning_rate = torch::full({}, optimizer_->param_groups().front().options().get_lr(), on_device(torch::kFloat32));
  graphs->step_index = torch::zeros({}, on_device(torch::kInt64));
  graphs->step_positions = torch::arange(steps, on_device(torch::kInt64));
  graphs->losses = torch::zeros({steps}, on_device(torch::kFloat32));
  graphs->loss_sum = torch::zeros({}, on_device(torch::kFloat64));
  graphs->correct = torch::zeros({}, on_device(torch::kInt64));
  graphs->eval_loss_sum = torch::zeros({}, on_device(torch::kFloat64));
  graphs->eval_confusion = torch::zeros({class_count * class_count}, on_device(torch::kInt64));
  graphs->pair_codes = torch::arange(class_count * class_count, on_device(torch::kInt64));

  const auto shapes = graph_shapes_for(train_size(), validation_size(), test_size(), config_.batch_size,
                                       config_.eval_batch_size);

  const auto caller = c10::cuda::getCurrentCUDAStream(device_.index());
  const auto side = c10::cuda::getStreamFromPool(false, device_.index());
  order_after(caller, side);
  {
    // Warm-up, then everything it changed put back: parameters, optimizer state, generators.
    const auto before = capture_state(0);
    const c10::cuda::CUDAStreamGuard on_side(side);
    model_->train();
    for (const auto size : shapes.train) {
      const auto indices = torch::arange(size, on_device(torch::kInt64));
      for (int i = 0; i < warmup_steps; ++i) eager_step(indices);
    }
    {
      const torch::NoGradGuard no_grad;
      model_->eval();
      for (const auto& [size, split] : shapes.evaluation) {
        const auto& images = (split == evaluation_split::validation ? validation_ : test_).images;
        model_->forward(normalise(images.slice(0, 0, size)));
      }
      model_->train();
    }
    side.synchronize();
    restore_state(before);
  }
  // State the first step would create is created now, outside the graph: a capture records
  // kernels, not a first step's allocations. Both optimizers read the rate from the device.
  if (config_.optimizer == optimizer_kind::adam) {
    static_cast<fused_adam&>(*optimizer_).use_device_scalars(graphs->learning_rate);
  } else {
    static_cast<device_rate_sgd&>(*optimizer_).use_device_rate(graphs->learning_rate);
  }
  optimizer_->zero_grad();
  order_after(caller, side);
  {
    const c10::cuda::CUDAStreamGuard on_side(side);
    for (const auto size : shapes.train) {
      auto graph = std::make_unique<cuda_graphs::train_graph>();
      graph->indices = torch::zeros({size}, on_device(torch::kInt64));
      graph_capture capture(graph->graph);
      graph->outputs = eager_step(graph->indices);
      // train_epoch's eager bookkeeping, with the step's position read from the device.
      graphs->losses.copy_(torch::where(graphs->step_positions.eq(graphs->step_index), graph->outputs.loss, graphs->losses));
      graphs->loss_sum += graph->outputs.loss.to(torch::kFloat64) * static_cast<double>(size);
      graphs->correct += graph->outputs.correct;
      capture.end();
      graphs->train.emplace(size, std::move(graph));
    }
    const torch::NoGradGuard no_grad;
    model_->eval();
    for (const auto& shape : shapes.evaluation) {
      const std::int64_t size = shape.first;
      auto graph = std::make_unique<cuda_graphs::eval_graph>();
      graph->images = torch::zeros({size, 1, 28, 28}, on_device(torch::kUInt8));
      graph->labels = torch::zeros({size}, on_device(torch::kInt64));
      graph_capture capture(graph->graph);
      const auto output = model_->forward(normalise(graph->images));
      graphs->eval_loss_sum += torch::nll_loss(output, graph->labels, {}, at::Reduction::Sum).to(torch::kFloat64);
      // The counts bincount gives, without its host read of the largest value.
      const auto codes = graph->labels * class_count + output.argmax(1);
      graphs->eval_confusion += codes.unsqueeze(1).eq(graphs->pair_codes).sum(0);
      capture.end();
      graphs->eval.emplace(size, std::move(graph));
    }
    model_->train();
  }
  order_after(side, caller);
  graphs_ = std::move(graphs);
}

bool trainer::has_step_graph(std::int64_t batch_size) const {
  return graphs_ && graphs_->train.count(batch_size) > 0;
}

trainer::step_result trainer::replay_step(const torch::Tensor& indices, std::int64_t step) {
  auto& graph = *graphs_->train.at(indices.size(0));
  graph.indices.copy_(indices);
  graphs_->step_index.fill_(step);
  graph.graph.replay();
  return graph.outputs;
}

classification_metrics trainer::evaluate_with_graphs(const resident_split& split) {
  graphs_->eval_loss_sum.zero_();
  graphs_->eval_confusion.zero_();
  const std::int64_t count = split.labels.size(0);
  for (std::int64_t begin = 0; begin < count; begin += config_.eval_batch_size) {
    const std::int64_t end = std::min(count, begin + config_.eval_batch_size);
    auto& graph = *graphs_->eval.at(end - begin);
    graph.images.copy_(split.images.slice(0, begin, end));
    graph.labels.copy_(split.labels.slice(0, begin, end));
    graph.graph.replay();
  }
  return evaluation_metrics(graphs_->eval_loss_sum, graphs_->eval_confusion, count);
}

#else  // a build without CUDA never has a CUDA device, so uses_cuda_graphs() is false

void trainer::capture_graphs() { throw std::logic_error("CUDA graphs need trackbench's CUDA build"); }

bool trainer::has_step_graph(std::int64_t) const { return false; }

trainer::step_result trainer::replay_step(const torch::Tensor&, std::int64_t) {
  throw std::logic_error("CUDA graphs need trackbench's CUDA build");
}

classification_metrics trainer::evaluate_with_graphs(const resident_split&) {
  throw std::logic_error("CUDA graphs need trackbench's CUDA build");
}

#endif

}  // namespace trackbench::trainer
