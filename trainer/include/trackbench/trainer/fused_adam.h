#pragma once
// LibTorch's Adam with each step done by one fused kernel per parameter group (at::_fused_adam_,
// the kernel behind torch.optim.Adam(fused=True)) instead of about ten tensor operations per
// parameter. It keeps Adam's own per-parameter state (step, exp_avg, exp_avg_sq), so saving and
// restoring that state works as for torch::optim::Adam. The arithmetic is Adam's with L2 weight
// decay; its rounding may differ from torch::optim::Adam's in the last bits.
#include <torch/torch.h>

namespace trackbench::trainer {

class fused_adam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  // AMSGrad and closures are refused (TORCH_CHECK): the trainer uses neither.
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace trackbench::trainer
