#pragma once
// LibTorch's Adam with each step done by one fused kernel per parameter group (at::_fused_adam_,
// the kernel behind torch.optim.Adam(fused=True)) instead of about ten tensor operations per
// parameter. It keeps Adam's own per-parameter state (step, exp_avg, exp_avg_sq), so saving and
// restoring that state works as for torch::optim::Adam. The arithmetic is Adam's with L2 weight
// decay; its rounding may differ from torch::optim::Adam's in the last bits.
#include <torch/torch.h>

#include <map>

namespace trackbench::trainer {

class fused_adam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  // AMSGrad and closures are refused (TORCH_CHECK): the trainer uses neither.
  torch::Tensor step(LossClosure closure = nullptr) override;

  // For a step captured into a CUDA graph, whose replays cannot read host numbers: from here on
  // each parameter's step count lives in a float32 tensor beside it that step() advances on the
  // device, and the rate is read from `learning_rate` (a float32 scalar on the parameters'
  // device, which the caller fills before each step). Missing state is created as the first
  // step would create it (zeros, step 0), so that a capture allocates nothing that must outlive
  // it. The step counts are float32 tensors either way, and host-scalar steps on CUDA round the
  // rate to float32 as this tensor holds it, so the results are the same bits as before. One
  // rate for every parameter: an optimizer of several parameter groups is refused (c10::Error).
  void use_device_scalars(torch::Tensor learning_rate);
  // Copies the device step counts back into the parameters' states, which capture reads.
  void sync_host_steps();

 private:
  torch::Tensor learning_rate_;                        // undefined: host scalars
  std::map<const void*, torch::Tensor> device_steps_;  // by parameter
};

}  // namespace trackbench::trainer
