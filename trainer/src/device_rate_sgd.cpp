#include "trackbench/trainer/device_rate_sgd.h"

#include <memory>

namespace trackbench::trainer {
namespace {

const torch::optim::SGDOptions& checked_options(const torch::optim::OptimizerParamGroup& group) {
  const auto& options = static_cast<const torch::optim::SGDOptions&>(group.options());
  TORCH_CHECK(!options.nesterov() && options.dampening() == 0.0, "device_rate_sgd: Nesterov and dampening are not supported");
  return options;
}

std::unique_ptr<torch::optim::SGDParamState> zero_momentum(const torch::Tensor& param) {
  auto fresh = std::make_unique<torch::optim::SGDParamState>();
  fresh->momentum_buffer(torch::zeros_like(param, torch::MemoryFormat::Preserve));
  return fresh;
}

}  // namespace

torch::Tensor device_rate_sgd::step(LossClosure closure) {
  TORCH_CHECK(!closure, "device_rate_sgd: closures are not supported");
  for (auto& group : param_groups()) checked_options(group);
  const auto& params = param_groups().front().params();
  if (!learning_rate_.defined() && (params.empty() || !params.front().is_cuda())) return torch::optim::SGD::step();
  const torch::NoGradGuard no_grad;
  for (auto& group : param_groups()) {
    const auto& options = checked_options(group);
    if (group.params().empty()) continue;
    // The rate as the captured step reads it: float32 on the device.
    const auto rate = learning_rate_.defined()
                          ? learning_rate_
                          : torch::full({}, static_cast<float>(options.lr()),
                                        group.params().front().options().dtype(torch::kFloat32));
    for (auto& param : group.params()) {
      if (!param.grad().defined()) continue;
      auto update = param.grad();
      if (options.weight_decay() != 0.0) update = update.add(param, options.weight_decay());
      if (options.momentum() != 0.0) {
        auto& slot = state()[param.unsafeGetTensorImpl()];
        if (!slot) {
          TORCH_CHECK(!learning_rate_.defined(), "device_rate_sgd: a parameter without state after use_device_rate");
          slot = zero_momentum(param);
        }
        // From zeros, the first step's buffer is 0 * momentum + update, as a replay computes it
        // from the buffer use_device_rate created (LibTorch's SGD clones the update instead,
        // which keeps the sign of a zero gradient).
        auto& buffer = static_cast<torch::optim::SGDParamState&>(*slot).momentum_buffer();
        buffer.mul_(options.momentum()).add_(update);
        update = buffer;
      }
      param.addcmul_(update, rate, -1);
    }
  }
  return {};
}

void device_rate_sgd::use_device_rate(torch::Tensor learning_rate) {
  TORCH_CHECK(param_groups().size() == 1, "device_rate_sgd: use_device_rate reads one rate for every parameter, so it "
              "takes one parameter group; this optimizer has ", param_groups().size());
  const torch::NoGradGuard no_grad;
  learning_rate_ = std::move(learning_rate);
  if (checked_options(param_groups().front()).momentum() == 0.0) return;
  for (auto& param : param_groups().front().params()) {
    auto& slot = state()[param.unsafeGetTensorImpl()];
    if (!slot) slot = zero_momentum(param);
  }
}

}  // namespace trackbench::trainer
