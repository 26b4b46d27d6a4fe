#include "trackbench/trainer/fused_adam.h"

#include <ATen/ops/_fused_adam.h>

#include <tuple>
#include <vector>

namespace trackbench::trainer {

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
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(param, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(param, torch::MemoryFormat::Preserve));
        slot = std::move(fresh);
      }
      auto& adam = static_cast<torch::optim::AdamParamState&>(*slot);
      adam.step(adam.step() + 1);
      params.push_back(param);
      grads.push_back(param.grad());
      exp_avgs.push_back(adam.exp_avg());
      exp_avg_sqs.push_back(adam.exp_avg_sq());
      // The kernel reads the step count, already advanced, from a float tensor beside the parameter.
      steps.push_back(torch::full({}, static_cast<double>(adam.step()), param.options()));
    }
    if (params.empty()) continue;
    at::_fused_adam_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, options.lr(),
                     std::get<0>(options.betas()), std::get<1>(options.betas()), options.weight_decay(), options.eps(),
                     /*amsgrad=*/false, /*maximize=*/false);
  }
  return {};
}

}  // namespace trackbench::trainer
