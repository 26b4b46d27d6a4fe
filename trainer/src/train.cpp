#include "trackbench/trainer/train.h"

#include <malloc.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "trackbench/kernels/cuda_device.h"
#include "trackbench/kernels/normalize.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/fused_adam.h"
#include "trackbench/trainer/random.h"

#if TRACKBENCH_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace trackbench::trainer {
namespace {

// MNIST's pixel mean and standard deviation, as PyTorch's example normalises with.
constexpr double pixel_mean = 0.1307;
constexpr double pixel_std = 0.3081;

// Seed streams, so the split and each epoch's shuffle draw independent numbers.
constexpr std::uint64_t split_stream = 1;
constexpr std::uint64_t shuffle_stream_base = 1000;

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// Linux keeps a resident-set high-water mark per process; writing 5 to
// clear_refs resets it, so each epoch can report its own peak.
void reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  if (clear_refs) clear_refs << "5";
}

std::int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      std::int64_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

void reset_peak_cuda(const torch::Device& device) {
#if TRACKBENCH_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#else
  (void)device;
#endif
}

std::optional<std::int64_t> peak_cuda_bytes(const torch::Device& device) {
#if TRACKBENCH_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return stats.allocated_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  }
#else
  (void)device;
#endif
  return std::nullopt;
}

// LibTorch's current stream for the device, so custom kernels queue behind its work.
void* current_cuda_stream(const torch::Device& device) {
#if TRACKBENCH_WITH_CUDA
  return c10::cuda::getCurrentCUDAStream(device.index()).stream();
#else
  (void)device;
  return nullptr;
#endif
}

// LibTorch's CPU tensors come from malloc, and glibc hands freed memory back to the kernel: blocks
// above its mmap threshold (at most 32 MiB; a batch of 256 has several) are unmapped on free and the
// heap's free top is trimmed. Each step then page-faults its activations in again, 4 KiB at a time,
// which on this project's virtual machines cost a quarter of a batch-64 step and over a third of a
// batch-256 one. Kept on the heap, the same memory serves step after step. Process-wide, set once.
void keep_freed_memory_for_reuse() {
#ifdef __GLIBC__
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  });
#endif
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const train_config& config, digit_cnn& model) {
  if (config.optimizer == optimizer_kind::sgd) {
    return std::make_unique<torch::optim::SGD>(
        model->parameters(),
        torch::optim::SGDOptions(config.learning_rate).momentum(config.momentum).weight_decay(config.weight_decay));
  }
  return std::make_unique<fused_adam>(model->parameters(),
                                      torch::optim::AdamOptions(config.learning_rate).weight_decay(config.weight_decay));
}

torch::Tensor generator_state(const torch::Device& device) {
  auto generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_generator_state(const torch::Device& device, const torch::Tensor& state) {
  auto generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double learning_rate) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(learning_rate);
}

}  // namespace

optimizer_kind parse_optimizer(const std::string& name) {
  if (name == "adam") return optimizer_kind::adam;
  if (name == "sgd") return optimizer_kind::sgd;
  throw input_error("--optimizer: unknown optimizer '" + name + "'; expected adam or sgd");
}

std::string to_string(optimizer_kind kind) { return kind == optimizer_kind::sgd ? "sgd" : "adam"; }

device_kind parse_device(const std::string& name) {
  if (name == "auto") return device_kind::automatic;
  if (name == "cpu") return device_kind::cpu;
  if (name == "cuda") return device_kind::cuda;
  throw input_error("--device: unknown device '" + name + "'; expected auto, cpu or cuda");
}

std::string to_string(device_kind kind) {
  switch (kind) {
    case device_kind::cpu:
      return "cpu";
    case device_kind::cuda:
      return "cuda";
    case device_kind::automatic:
      break;
  }
  return "auto";
}

void validate(const train_config& config) {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw input_error(message);
  };
  require(std::isfinite(config.learning_rate) && config.learning_rate > 0.0,
          "--lr must be a positive finite number, got " + std::to_string(config.learning_rate));
  require(std::isfinite(config.momentum) && config.momentum >= 0.0 && config.momentum < 1.0,
          "--momentum must be in [0, 1), got " + std::to_string(config.momentum));
  require(std::isfinite(config.weight_decay) && config.weight_decay >= 0.0,
          "--weight-decay must be >= 0, got " + std::to_string(config.weight_decay));
  require(config.batch_size >= 1, "--batch-size must be >= 1, got " + std::to_string(config.batch_size));
  require(config.eval_batch_size >= 1, "--eval-batch-size must be >= 1, got " + std::to_string(config.eval_batch_size));
  require(config.epochs >= 1, "--epochs must be >= 1, got " + std::to_string(config.epochs));
  require(config.threads >= 0, "--threads must be >= 0 (0: all hardware threads), got " + std::to_string(config.threads));
  require(config.validation_fraction >= 0.0 && config.validation_fraction < 1.0,
          "--validation-fraction must be in [0, 1), got " + std::to_string(config.validation_fraction));
}

torch::Device resolve_device(device_kind kind) {
  if (kind == device_kind::cpu) return torch::kCPU;
  const kernels::cuda_report cuda = kernels::probe_cuda();
  const bool usable = cuda.usable && torch::cuda::is_available();
  if (kind == device_kind::automatic) return usable ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (!usable) {
    const std::string reason = cuda.reason.empty() ? "LibTorch cannot use the GPU the runtime reports" : cuda.reason;
    throw input_error("--device cuda: no usable CUDA GPU: " + reason + "; use --device cpu or --device auto");
  }
  return {torch::kCUDA, 0};
}

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
  validate(config_);
  if (config_.deterministic && config_.device != device_kind::cpu) {
    // cuBLAS is deterministic only with a fixed workspace; it reads this before its first handle.
    ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
  }
  device_ = resolve_device(config_.device);
  if (config_.conv == conv_backend::custom && !device_.is_cuda()) {
    throw input_error("--conv custom runs the CUDA kernels and needs a GPU; --conv reference runs the same op on the CPU");
  }
  if (config_.conv == conv_backend::reference && !device_.is_cpu()) {
    throw input_error("--conv reference runs the CPU references; use --device cpu, or --conv custom on the GPU");
  }
  keep_freed_memory_for_reuse();
  threads_ = config_.threads > 0 ? config_.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads_);
  at::globalContext().setDeterministicAlgorithms(config_.deterministic, /*warn_only=*/false);
  at::globalContext().setDeterministicCuDNN(config_.deterministic);
  at::globalContext().setBenchmarkCuDNN(!config_.deterministic);
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

  model_ = digit_cnn(config_.conv);
  model_->to(device_);
  optimizer_ = make_optimizer(config_, model_);
}

std::uint64_t trainer::split_seed() const { return derive_seed(config_.seed, split_stream); }

std::uint64_t trainer::shuffle_seed(int epoch) const {
  return derive_seed(config_.seed, shuffle_stream_base + static_cast<std::uint64_t>(epoch));
}

std::int64_t trainer::steps_per_epoch() const { return (train_size() + config_.batch_size - 1) / config_.batch_size; }

torch::Tensor trainer::normalise(const torch::Tensor& images) const {
  static const kernels::pixel_affine affine = kernels::pixel_normalisation(pixel_mean, pixel_std);
  const auto input = images.contiguous();
  auto output = torch::empty(input.sizes(), input.options().dtype(torch::kFloat32));
  if (device_.is_cuda()) {
    kernels::normalize_pixels_cuda(input.data_ptr<std::uint8_t>(), output.data_ptr<float>(), input.numel(), affine,
                                   current_cuda_stream(device_));
  } else {
    kernels::normalize_pixels_reference(input.data_ptr<std::uint8_t>(), output.data_ptr<float>(), input.numel(), affine);
  }
  return output;
}

epoch_metrics trainer::train_epoch(int epoch, training_observer* observer) {
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
  const auto step_losses = torch::zeros({steps}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  auto correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
  std::int64_t checked = 0;

  model_->train();
  for (std::int64_t step = 0; step < steps; ++step) {
    if (config_.one_cycle) {
      set_learning_rate(*optimizer_, one_cycle_learning_rate(config_.learning_rate, (epoch - 1) * steps + step, total_steps));
    }
    const auto batch = order.slice(0, step * config_.batch_size, std::min(train_size(), (step + 1) * config_.batch_size));
    const auto result = train_step(batch);
    step_losses[step] = result.loss;
    loss_sum += result.loss.to(torch::kFloat64) * static_cast<double>(batch.size(0));
    correct += result.correct;

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
        const auto images_done = std::min(train_size(), (step + 1) * config_.batch_size);
        observer->on_step({epoch, config_.epochs, step + 1, steps, recent[-1].item<double>(),
                           static_cast<double>(images_done) / std::max(elapsed, 1e-9), elapsed});
      }
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
  const auto images = normalise(train_.images.index_select(0, indices));
  const auto labels = train_.labels.index_select(0, indices);
  optimizer_->zero_grad();
  const auto output = model_->forward(images);
  const auto loss = torch::nll_loss(output, labels);
  loss.backward();
  optimizer_->step();
  return {loss.detach(), output.argmax(1).eq(labels).sum()};
}

std::vector<epoch_metrics> trainer::run(training_observer* observer, int first_epoch) {
  std::vector<epoch_metrics> history;
  for (int epoch = first_epoch; epoch <= config_.epochs; ++epoch) history.push_back(train_epoch(epoch, observer));
  return history;
}

training_state trainer::capture_state(int epochs_done) {
  training_state state;
  state.epochs_done = epochs_done;
  auto cpu_copy = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU).clone(); };
  for (const auto& item : model_->named_parameters()) {
    state.parameters.emplace_back(item.key(), cpu_copy(item.value()));
    const auto found = optimizer_->state().find(item.value().unsafeGetTensorImpl());
    if (found == optimizer_->state().end()) continue;  // no step taken yet
    if (config_.optimizer == optimizer_kind::adam) {
      const auto& adam = static_cast<const torch::optim::AdamParamState&>(*found->second);
      state.optimizer_state.emplace_back(item.key() + ".step", torch::tensor(adam.step(), torch::kInt64));
      state.optimizer_state.emplace_back(item.key() + ".exp_avg", cpu_copy(adam.exp_avg()));
      state.optimizer_state.emplace_back(item.key() + ".exp_avg_sq", cpu_copy(adam.exp_avg_sq()));
    } else {
      const auto& sgd = static_cast<const torch::optim::SGDParamState&>(*found->second);
      if (sgd.momentum_buffer().defined()) {
        state.optimizer_state.emplace_back(item.key() + ".momentum_buffer", cpu_copy(sgd.momentum_buffer()));
      }
    }
  }
  state.cpu_generator = generator_state(torch::kCPU);
  if (device_.is_cuda()) state.cuda_generator = generator_state(device_);
  return state;
}

void trainer::restore_state(const training_state& state) {
  std::map<std::string, torch::Tensor> saved(state.parameters.begin(), state.parameters.end());
  std::map<std::string, torch::Tensor> saved_optimizer(state.optimizer_state.begin(), state.optimizer_state.end());
  // Removes and returns `name`, checked against the shape and type of `like` (on any device).
  auto take = [](std::map<std::string, torch::Tensor>& from, const std::string& name, const torch::Tensor& like,
                 const char* what) {
    const auto found = from.find(name);
    if (found == from.end()) throw input_error("saved " + std::string(what) + " has no '" + name + "'");
    if (found->second.sizes() != like.sizes() || found->second.scalar_type() != like.scalar_type()) {
      throw input_error("saved " + std::string(what) + " '" + name + "' has shape " + c10::str(found->second.sizes()) +
                        " " + std::string(c10::toString(found->second.scalar_type())) + ", expected " +
                        c10::str(like.sizes()) + " " + std::string(c10::toString(like.scalar_type())));
    }
    auto tensor = found->second;
    from.erase(found);
    return tensor;
  };

  // Everything is checked before anything changes, so a refused state leaves the trainer as it was.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> parameter_values;
  std::vector<std::pair<void*, std::unique_ptr<torch::optim::OptimizerParamState>>> optimizer_values;
  for (const auto& item : model_->named_parameters()) {
    const auto& name = item.key();
    const auto& param = item.value();
    parameter_values.emplace_back(param, take(saved, name, param, "parameters"));
    if (saved_optimizer.empty()) continue;
    if (config_.optimizer == optimizer_kind::adam) {
      auto adam = std::make_unique<torch::optim::AdamParamState>();
      adam->step(take(saved_optimizer, name + ".step", torch::tensor(std::int64_t{0}), "optimizer state").item<std::int64_t>());
      adam->exp_avg(take(saved_optimizer, name + ".exp_avg", param, "optimizer state").to(device_));
      adam->exp_avg_sq(take(saved_optimizer, name + ".exp_avg_sq", param, "optimizer state").to(device_));
      optimizer_values.emplace_back(param.unsafeGetTensorImpl(), std::move(adam));
    } else if (saved_optimizer.count(name + ".momentum_buffer") > 0) {
      auto sgd = std::make_unique<torch::optim::SGDParamState>();
      sgd->momentum_buffer(take(saved_optimizer, name + ".momentum_buffer", param, "optimizer state").to(device_));
      optimizer_values.emplace_back(param.unsafeGetTensorImpl(), std::move(sgd));
    }
  }
  if (!saved.empty()) throw input_error("saved parameters have '" + saved.begin()->first + "', which this model lacks");
  if (!saved_optimizer.empty()) {
    throw input_error("saved optimizer state has '" + saved_optimizer.begin()->first + "', which " +
                      to_string(config_.optimizer) + " does not keep");
  }

  torch::NoGradGuard no_grad;
  for (auto& [param, value] : parameter_values) param.copy_(value);
  optimizer_->state().clear();
  for (auto& [key, value] : optimizer_values) optimizer_->state()[key] = std::move(value);
  set_generator_state(torch::kCPU, state.cpu_generator);
  if (device_.is_cuda() && state.cuda_generator.defined()) set_generator_state(device_, state.cuda_generator);
}

classification_metrics trainer::evaluate_test() { return evaluate(test_); }

classification_metrics trainer::evaluate(const resident_split& split) {
  torch::NoGradGuard no_grad;
  model_->eval();
  const std::int64_t count = split.labels.size(0);
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  auto confusion = torch::zeros({class_count * class_count}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
  for (std::int64_t begin = 0; begin < count; begin += config_.eval_batch_size) {
    const std::int64_t end = std::min(count, begin + config_.eval_batch_size);
    const auto output = model_->forward(normalise(split.images.slice(0, begin, end)));
    const auto labels = split.labels.slice(0, begin, end);
    loss_sum += torch::nll_loss(output, labels, {}, at::Reduction::Sum).to(torch::kFloat64);
    confusion += torch::bincount(labels * class_count + output.argmax(1), {}, class_count * class_count);
  }
  model_->train();

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

}  // namespace trackbench::trainer
