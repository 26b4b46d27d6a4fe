#include "trackbench/trainer/fused_adam.h"

#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_fused_adam.h>

#include <tuple>
#include <vector>

namespace trackbench::trainer {
namespace {

// The state Adam's first step creates for `param`.
std::unique_ptr<torch::optim::AdamParamState> fresh_state(const torch::Tensor& param) {
  auto fresh = std::make_unique<torch::optim::AdamParamState>();
  fresh->step(0);
  fresh->exp_avg(torch::zeros_like(param, torch::MemoryFormat::Preserve));
  fresh->exp_avg_sq(torch::zeros_like(param, torch::MemoryFormat::Preserve));
  return fresh;
}

}  // namespace

torch::Tensor fused_adam::step(LossClosure closure) {
  TORCH_CHECK(!closure, "fused_adam: closures are not supported");
  const torch::NoGradGuard no_grad;
  for (auto& group : param_groups()) {
    const auto& options = static_cast<const torch::optim::AdamOptions&>(group.options());
    TORCH_CHECK(!options.amsgrad(), "fused_adam: AMSGrad is not supported");
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
    for (auto& param : group.params()) {
      if (!param.grad().defined()) continue;
      auto& slot = state()[param.unsafeGetTensorImpl()];
      if (!slot) {
        TORCH_CHECK(!learning_rate_.defined(), "fused_adam: a parameter without state after use_device_scalars");
        slot = fresh_state(param);
      }
      auto& adam = static_cast<torch::optim::AdamParamState&>(*slot);
      params.push_back(param);
      grads.push_back(param.grad());
      exp_avgs.push_back(adam.exp_avg());
      exp_avg_sqs.push_back(adam.exp_avg_sq());
      if (learning_rate_.defined()) {
        steps.push_back(device_steps_.at(param.unsafeGetTensorImpl()));
      } else {
        adam.step(adam.step() + 1);
        // The kernel reads the step count, already advanced, from a float tensor beside the parameter.
        steps.push_back(torch::full({}, static_cast<double>(adam.step()), param.options()));
      }
    }
    if (params.empty()) continue;
    if (learning_rate_.defined()) {
      at::_foreach_add_(steps, 1);
      at::_fused_adam_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, learning_rate_,
                       std::get<0>(options.betas()), std::get<1>(options.betas()), options.weight_decay(),
                       options.eps(), /*amsgrad=*/false, /*maximize=*/false);
    } else {
      // A captured CUDA step reads the rate as a float32 tensor, and the kernel divides that float,
      // widened, where it would divide this double: eager CUDA steps take the same float, so that
      // a run is the same bits with CUDA graphs and without. The CPU keeps the double.
      const double lr = params.front().is_cuda() ? static_cast<double>(static_cast<float>(options.lr())) : options.lr();
      at::_fused_adam_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, lr,
                       std::get<0>(options.betas()), std::get<1>(options.betas()), options.weight_decay(),
                       options.eps(), /*amsgrad=*/false, /*maximize=*/false);
    }
  }
  return {};
}

void fused_adam::use_device_scalars(torch::Tensor learning_rate) {
  TORCH_CHECK(param_groups().size() == 1, "fused_adam: use_device_scalars reads one rate for every parameter, so it "
              "takes one parameter group; this optimizer has ", param_groups().size());
  const torch::NoGradGuard no_grad;
  learning_rate_ = std::move(learning_rate);
  device_steps_.clear();
  for (auto& group : param_groups()) {
    for (auto& param : group.params()) {
      auto& slot = state()[param.unsafeGetTensorImpl()];
      if (!slot) slot = fresh_state(param);
      const auto& adam = static_cast<const torch::optim::AdamParamState&>(*slot);
      device_steps_[param.unsafeGetTensorImpl()] = torch::full({}, static_cast<double>(adam.step()), param.options());
    }
  }
}

void fused_adam::sync_host_steps() {
  if (!learning_rate_.defined()) return;
  for (auto& group : param_groups()) {
    for (auto& param : group.params()) {
      auto& adam = static_cast<torch::optim::AdamParamState&>(*state().at(param.unsafeGetTensorImpl()));
      adam.step(static_cast<std::int64_t>(device_steps_.at(param.unsafeGetTensorImpl()).item<float>()));
    }
  }
}

}  // namespace trackbench::trainer
