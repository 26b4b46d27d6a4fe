#include "trackbench/trainer/train.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <thread>

#include "cuda_graphs.h"
#include "evaluation_pass.h"
#include "memory.h"
#include "trackbench/trainer/device_rate_sgd.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/fused_adam.h"
#include "trackbench/trainer/random.h"

#if TRACKBENCH_WITH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace trackbench::trainer {
namespace {

// Seed streams, so the split and each epoch's shuffle draw independent numbers.
constexpr std::uint64_t split_stream = 1;
constexpr std::uint64_t shuffle_stream_base = 1000;

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const train_config& config, digit_cnn& model) {
  if (config.optimizer == optimizer_kind::sgd) {
    return std::make_unique<device_rate_sgd>(
        model->parameters(),
        torch::optim::SGDOptions(config.learning_rate).momentum(config.momentum).weight_decay(config.weight_decay));
  }
  return std::make_unique<fused_adam>(model->parameters(),
                                      torch::optim::AdamOptions(config.learning_rate).weight_decay(config.weight_decay));
}

}  // namespace

double one_cycle_learning_rate(double max_learning_rate, std::int64_t step, std::int64_t total_steps) {
  constexpr double warmup_fraction = 0.3;
  constexpr double initial_divisor = 25.0;
  constexpr double final_divisor = 1e4;
  const double initial = max_learning_rate / initial_divisor;
  const double final_lr = initial / final_divisor;
  const double warmup_end = std::max(1.0, warmup_fraction * static_cast<double>(total_steps) - 1.0);
  const double last = std::max(warmup_end + 1.0, static_cast<double>(total_steps - 1));
  const auto cosine = [](double from, double to, double t) { return to + (from - to) * 0.5 * (1.0 + std::cos(M_PI * t)); };
  const auto s = static_cast<double>(step);
  if (s <= warmup_end) return cosine(initial, max_learning_rate, s / warmup_end);
  return cosine(max_learning_rate, final_lr, std::min(1.0, (s - warmup_end) / (last - warmup_end)));
}

trainer::trainer(train_config config, const dataset& data)
    : config_(std::move(config)), device_(torch::kCPU) {
  const auto start = clock_type::now();
  validate(config_);
  if (config_.deterministic && config_.device != device_kind::cpu) {
    // cuBLAS is deterministic only with a fixed workspace; it reads this before its first handle.
    ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
  }
  device_ = resolve_device(config_.device);
  if (config_.conv == conv_backend::custom && !device_.is_cuda()) {
    throw input_error("--conv " + conv_name(config_.conv, config_.conv_version) +
                      " runs the CUDA kernels and needs a GPU; --conv reference runs the same op on the CPU");
  }
  if (config_.conv == conv_backend::reference && !device_.is_cpu()) {
    throw input_error("--conv reference runs the CPU references; use --device cpu, or --conv custom on the GPU");
  }
  if (config_.precision == kernels::precision::tf32 && !device_.is_cuda()) {
    throw input_error("--precision tf32 runs on the GPU's tensor cores and needs a GPU; the CPU computes in fp32");
  }
  keep_freed_memory_for_reuse();
  group_ = &current_process_group(config_.deterministic, device_.is_cuda());
  // One GPU per rank of a machine: the engine made it the current device.
  if (group_->world_size() > 1 && device_.is_cuda()) {
    device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(group_->launch().local_rank));
  }
  // Ranks sharing a machine share its hardware threads.
  const int hardware_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_ = config_.threads > 0 ? config_.threads : std::max(1, hardware_threads / group_->launch().local_world_size);
  torch::set_num_threads(threads_);
  at::globalContext().setDeterministicAlgorithms(config_.deterministic, /*warn_only=*/false);
  at::globalContext().setDeterministicCuDNN(config_.deterministic);
  // Benchmark mode would time every algorithm of each new shape during the first steps, inside
  // the first epoch's clock (5 s of it on an H200); the heuristics' choice costs nothing up front.
  at::globalContext().setBenchmarkCuDNN(false);
  if (device_.is_cuda()) {
    // LibTorch allows TF32 in cuDNN convolutions by default: fp32 must say no explicitly.
    const bool tf32 = config_.precision == kernels::precision::tf32;
    at::globalContext().setAllowTF32CuDNN(tf32);
    at::globalContext().setAllowTF32CuBLAS(tf32);
  }
  torch::manual_seed(config_.seed);

  split_ = split_train_validation(data.train.size(), config_.validation_fraction, split_seed());
  auto resident = [&](const data_split& source, const torch::Tensor& indices) {
    const torch::Tensor images = indices.defined() ? source.images.index_select(0, indices) : source.images;
    const torch::Tensor labels = indices.defined() ? source.labels.index_select(0, indices) : source.labels;
    return resident_split{images.to(device_), labels.to(device_)};
  };
  train_ = resident(data.train, split_.train_indices);
  validation_ = resident(data.train, split_.validation_indices);
  test_ = resident(data.test, torch::Tensor());

  model_ = digit_cnn(config_.conv, config_.precision, config_.conv_version);
  model_->to(device_);
  optimizer_ = make_optimizer(config_, model_);
  if (group_->world_size() > 1) {
    // Every rank seeds alike, so the broadcast only guards against a rank that did not.
    auto parameters = torch::nn::utils::parameters_to_vector(model_->parameters()).contiguous();
    group_->broadcast(parameters, 0, "the broadcast of the initial parameters");
    torch::NoGradGuard no_grad;
    std::int64_t offset = 0;
    for (auto& parameter : model_->parameters()) {
      parameter.copy_(parameters.slice(0, offset, offset + parameter.numel()).view_as(parameter));
      offset += parameter.numel();
    }
  }
  synchronize(device_);
  warmup_seconds_ = seconds_since(start);
}

trainer::~trainer() = default;

bool trainer::uses_cuda_graphs() const {
#if TRACKBENCH_WITH_CUDA
  return config_.cuda_graphs && device_.is_cuda() && group_->world_size() == 1;
#else
  return false;  // a CUDA device needs trackbench's CUDA build, which has the graph code
#endif
}

void trainer::prepare() {
  if (prepared_) return;
  prepared_ = true;
  if (!uses_cuda_graphs()) return;
  const auto start = clock_type::now();
  // LibTorch's ops fail with c10::Error, the custom kernels' launches with cuda_error (CUDA_CHECK).
  const auto capture_failed = [](const std::string& what) {
    return training_error("capturing the CUDA graphs failed: " + what + "; --cuda-graphs off runs the steps op by op");
  };
  try {
    capture_graphs();
  } catch (const c10::Error& e) {
    throw capture_failed(e.what_without_backtrace());
  } catch (const kernels::cuda_error& e) {
    throw capture_failed(e.what());
  }
  synchronize(device_);
  warmup_seconds_ += seconds_since(start);
}

void trainer::apply_learning_rate(double learning_rate) {
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(learning_rate);
  if (graphs_) graphs_->learning_rate.fill_(learning_rate);
}

std::uint64_t trainer::split_seed() const { return derive_seed(config_.seed, split_stream); }

std::uint64_t trainer::shuffle_seed(int epoch) const {
  return derive_seed(config_.seed, shuffle_stream_base + static_cast<std::uint64_t>(epoch));
}

std::int64_t trainer::steps_per_epoch() const { return (train_size() + global_batch_size() - 1) / global_batch_size(); }

torch::Tensor trainer::normalise(const torch::Tensor& images) const { return normalise_images(images, device_); }

epoch_metrics trainer::train_epoch(int epoch, training_observer* observer) {
  prepare();
  epoch_metrics metrics;
  metrics.epoch = epoch;
  reset_peak_rss();
  reset_peak_cuda(device_);
  const auto epoch_start = clock_type::now();

  const std::int64_t steps = steps_per_epoch();
  const std::int64_t total_steps = steps * config_.epochs;
  const auto order = torch::tensor(
      seeded_permutation(train_size(), shuffle_seed(epoch)),
      torch::kInt64).to(device_);
  // Losses stay on the device and are checked in batches, so a GPU run does not
  // wait for the host after every step; a CPU run checks every step.
  const std::int64_t check_interval = device_.is_cuda() ? 50 : 1;
  // Graph replays add to totals they captured; eager steps to fresh ones.
  torch::Tensor step_losses, loss_sum, correct;
  if (graphs_) {
    std::tie(step_losses, loss_sum, correct) = zeroed_graph_totals();
  } else {
    step_losses = torch::zeros({steps}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
    loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
    correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
  }
  std::int64_t checked = 0;

  model_->train();
  for (std::int64_t step = 0; step < steps; ++step) {
    if (config_.one_cycle) {
      apply_learning_rate(one_cycle_learning_rate(config_.learning_rate, (epoch - 1) * steps + step, total_steps));
    }
    const std::int64_t global_begin = step * global_batch_size();
    const std::int64_t global_end = std::min(train_size(), global_begin + global_batch_size());
    const std::int64_t begin = std::min(global_end, global_begin + group_->rank() * config_.batch_size);
    const auto batch = order.slice(0, begin, std::min(global_end, begin + config_.batch_size));
    if (graphs_) {
      replay_step(batch, step);
    } else if (group_->world_size() > 1) {
      const auto result = data_parallel_step(batch, global_end - global_begin);
      step_losses[step] = result.loss;
      loss_sum += result.loss.to(torch::kFloat64) * static_cast<double>(global_end - global_begin);
      correct += result.correct;
    } else {
      const auto result = eager_step(batch);
      step_losses[step] = result.loss;
      loss_sum += result.loss.to(torch::kFloat64) * static_cast<double>(batch.size(0));
      correct += result.correct;
    }

    if ((step + 1) % check_interval == 0 || step + 1 == steps) {
      const auto recent = step_losses.slice(0, checked, step + 1);
      if (!torch::isfinite(recent).all().item<bool>()) {
        const auto bad = torch::nonzero(torch::logical_not(torch::isfinite(recent))).min().item<std::int64_t>() + checked;
        std::ostringstream message;
        message << "loss became " << recent[bad - checked].item<float>() << " at epoch " << epoch << ", step " << bad + 1
                << " of " << steps << "; try a lower --lr";
        throw training_error(message.str());
      }
      checked = step + 1;
      if (observer != nullptr) {
        const double elapsed = seconds_since(epoch_start);
        const auto images_done = std::min(train_size(), (step + 1) * global_batch_size());
        observer->on_step({epoch, config_.epochs, step + 1, steps, recent[-1].item<double>(),
                           static_cast<double>(images_done) / std::max(elapsed, 1e-9), elapsed});
      }
    }
  }
  if (group_->world_size() > 1) {
    // A rank whose share of a batch was empty drew no dropout: rank 0's generators, the ones a
    // snapshot saves, continue on every rank.
    std::vector<torch::Device> devices{torch::Device(torch::kCPU)};
    if (device_.is_cuda()) devices.push_back(device_);
    for (const auto& device : devices) {
      auto generator = at::globalContext().defaultGenerator(device);
      std::lock_guard<std::mutex> lock(generator.mutex());
      auto state = generator.get_state();
      group_->broadcast(state, 0, "the broadcast of the random state after epoch " + std::to_string(epoch));
      generator.set_state(state);
    }
  }
  synchronize(device_);
  metrics.train_seconds = seconds_since(epoch_start);
  metrics.train_loss = loss_sum.item<double>() / static_cast<double>(train_size());
  metrics.train_accuracy = static_cast<double>(correct.item<std::int64_t>()) / static_cast<double>(train_size());
  metrics.images_per_second = static_cast<double>(train_size()) / metrics.train_seconds;
  metrics.learning_rate = optimizer_->param_groups().front().options().get_lr();

  if (validation_size() > 0) metrics.validation = evaluate(validation_);
  metrics.test = evaluate(test_);
  synchronize(device_);
  metrics.epoch_seconds = seconds_since(epoch_start);
  metrics.peak_rss_bytes = peak_rss_bytes();
  metrics.peak_cuda_bytes = peak_cuda_bytes(device_);
  if (observer != nullptr) observer->on_epoch(metrics);
  return metrics;
}

trainer::step_result trainer::train_step(const torch::Tensor& indices) {
  prepare();
  if (graphs_ && has_step_graph(indices.size(0))) return replay_step(indices, 0);
  return eager_step(indices);
}

trainer::step_result trainer::eager_step(const torch::Tensor& indices) {
  const auto images = normalise(train_.images.index_select(0, indices));
  const auto labels = train_.labels.index_select(0, indices);
  optimizer_->zero_grad();
  const auto output = model_->forward(images);
  const auto loss = torch::nll_loss(output, labels);
  loss.backward();
  optimizer_->step();
  return {loss.detach(), output.argmax(1).eq(labels).sum()};
}

trainer::step_result trainer::data_parallel_step(const torch::Tensor& indices, std::int64_t global_count) {
  const auto count = indices.size(0);
  optimizer_->zero_grad();
  double loss_sum = 0.0;
  std::int64_t correct = 0;
  if (count > 0) {
    const auto labels = train_.labels.index_select(0, indices);
    const auto output = model_->forward(normalise(train_.images.index_select(0, indices)));
    const auto loss = torch::nll_loss(output, labels);
    loss.backward();
    loss_sum = loss.item<double>() * static_cast<double>(count);
    correct = output.argmax(1).eq(labels).sum().item<std::int64_t>();
  }
  // One flat buffer, one all-reduce: the gradients weighted by this rank's image count, then
  // its loss sum and correct count. Divided by the global count, the gradients are those of
  // the global batch's mean loss.
  const auto parameters = model_->parameters();
  std::int64_t total = 0;
  for (const auto& parameter : parameters) total += parameter.numel();
  auto flat = torch::zeros({total + 2}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  std::int64_t offset = 0;
  for (const auto& parameter : parameters) {
    if (parameter.grad().defined()) flat.slice(0, offset, offset + parameter.numel()).copy_(parameter.grad().reshape(-1));
    offset += parameter.numel();
  }
  flat.slice(0, 0, total).mul_(static_cast<double>(count));
  flat[total] = loss_sum;
  flat[total + 1] = static_cast<double>(correct);
  group_->all_reduce_sum(flat, "the all-reduce of the gradients");
  flat.div_(static_cast<double>(global_count));
  offset = 0;
  for (auto& parameter : parameters) {
    const auto gradient = flat.slice(0, offset, offset + parameter.numel()).view_as(parameter).to(parameter.dtype());
    if (parameter.grad().defined()) {
      parameter.mutable_grad().copy_(gradient);
    } else {
      parameter.mutable_grad() = gradient;
    }
    offset += parameter.numel();
  }
  optimizer_->step();
  const double global_correct = flat[total + 1].item<double>() * static_cast<double>(global_count);
  return {torch::tensor(flat[total].item<double>(), torch::kFloat32),
          torch::tensor(static_cast<std::int64_t>(std::llround(global_correct)), torch::kInt64)};
}

std::vector<epoch_metrics> trainer::run(training_observer* observer, int first_epoch) {
  std::vector<epoch_metrics> history;
  for (int epoch = first_epoch; epoch <= config_.epochs; ++epoch) history.push_back(train_epoch(epoch, observer));
  return history;
}

classification_metrics trainer::evaluate_test() {
  prepare();
  return evaluate(test_);
}

classification_metrics trainer::evaluate(const resident_split& split) {
  if (graphs_) return evaluate_with_graphs(split);
  torch::NoGradGuard no_grad;
  model_->eval();
  const std::int64_t count = split.labels.size(0);
  // Each rank evaluates its contiguous share; the sums add up to the whole split's.
  const std::int64_t world = group_->world_size();
  const std::int64_t first = count * group_->rank() / world;
  const std::int64_t last = count * (group_->rank() + 1) / world;
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  auto confusion = torch::zeros({class_count * class_count}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
  add_evaluation_sums(model_, split.images, split.labels, first, last, config_.eval_batch_size, device_, loss_sum,
                      confusion);
  model_->train();
  if (world > 1) {
    group_->all_reduce_sum(loss_sum, "the all-reduce of the evaluation's loss");
    group_->all_reduce_sum(confusion, "the all-reduce of the evaluation's confusion counts");
  }
  return evaluation_metrics(loss_sum, confusion, count);
}

}  // namespace trackbench::trainer
