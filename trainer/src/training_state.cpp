// Capturing and restoring the state a run continues from: parameters, optimizer state and the
// random generators.
#include <map>
#include <mutex>
#include <stdexcept>

#include "saved_tensors.h"
#include "trackbench/trainer/errors.h"
#include "trackbench/trainer/fused_adam.h"
#include "trackbench/trainer/train.h"

namespace trackbench::trainer {
namespace {

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

}  // namespace

training_state trainer::view_state(int epochs_done) {
  // With CUDA graphs Adam counts its steps on the device.
  if (auto* adam = dynamic_cast<fused_adam*>(optimizer_.get())) adam->sync_host_steps();
  training_state state;
  state.epochs_done = epochs_done;
  for (const auto& item : model_->named_parameters()) {
    state.parameters.emplace_back(item.key(), item.value().detach());
    const auto found = optimizer_->state().find(item.value().unsafeGetTensorImpl());
    if (found == optimizer_->state().end()) continue;  // no step taken yet
    if (config_.optimizer == optimizer_kind::adam) {
      const auto& adam = static_cast<const torch::optim::AdamParamState&>(*found->second);
      state.optimizer_state.emplace_back(item.key() + ".step", torch::tensor(adam.step(), torch::kInt64));
      state.optimizer_state.emplace_back(item.key() + ".exp_avg", adam.exp_avg().detach());
      state.optimizer_state.emplace_back(item.key() + ".exp_avg_sq", adam.exp_avg_sq().detach());
    } else {
      const auto& sgd = static_cast<const torch::optim::SGDParamState&>(*found->second);
      if (sgd.momentum_buffer().defined()) {
        state.optimizer_state.emplace_back(item.key() + ".momentum_buffer", sgd.momentum_buffer().detach());
      }
    }
  }
  state.cpu_generator = generator_state(torch::kCPU);
  if (device_.is_cuda()) state.cuda_generator = generator_state(device_);
  return state;
}

training_state trainer::capture_state(int epochs_done) {
  auto state = view_state(epochs_done);
  // One copy whatever the device (.to(kCPU) alone would alias a CPU tensor).
  const auto cpu_copy = [](torch::Tensor& t) { t = t.to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true); };
  for (auto& [name, tensor] : state.parameters) cpu_copy(tensor);
  for (auto& [name, tensor] : state.optimizer_state) cpu_copy(tensor);
  return state;
}

void trainer::restore_state(const training_state& state) {
  if (graphs_) throw std::logic_error("restore_state after prepare(): the captured CUDA graphs hold the current state");
  std::map<std::string, torch::Tensor> saved(state.parameters.begin(), state.parameters.end());
  std::map<std::string, torch::Tensor> saved_optimizer(state.optimizer_state.begin(), state.optimizer_state.end());
  // Everything is checked before anything changes, so a refused state leaves the trainer as it was.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> parameter_values;
  std::vector<std::pair<void*, std::unique_ptr<torch::optim::OptimizerParamState>>> optimizer_values;
  for (const auto& item : model_->named_parameters()) {
    const auto& name = item.key();
    const auto& param = item.value();
    parameter_values.emplace_back(param, take_saved(saved, name, param, "parameters"));
    if (saved_optimizer.empty()) continue;
    if (config_.optimizer == optimizer_kind::adam) {
      auto adam = std::make_unique<torch::optim::AdamParamState>();
      adam->step(take_saved(saved_optimizer, name + ".step", torch::tensor(std::int64_t{0}), "optimizer state").item<std::int64_t>());
      adam->exp_avg(take_saved(saved_optimizer, name + ".exp_avg", param, "optimizer state").to(device_));
      adam->exp_avg_sq(take_saved(saved_optimizer, name + ".exp_avg_sq", param, "optimizer state").to(device_));
      optimizer_values.emplace_back(param.unsafeGetTensorImpl(), std::move(adam));
    } else if (saved_optimizer.count(name + ".momentum_buffer") > 0) {
      auto sgd = std::make_unique<torch::optim::SGDParamState>();
      sgd->momentum_buffer(take_saved(saved_optimizer, name + ".momentum_buffer", param, "optimizer state").to(device_));
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

}  // namespace trackbench::trainer
