#pragma once
// Sets whether LibTorch's cuDNN convolutions may round FP32 inputs to TF32 (LibTorch allows it
// by default) for one scope, and restores the previous setting after it, so that a test that
// compares against cuDNN at one precision leaves the next test LibTorch's default.
#include <ATen/Context.h>

namespace trackbench::testing {

class cudnn_tf32_scope {
 public:
  explicit cudnn_tf32_scope(bool allow) : previous_(at::globalContext().allowTF32CuDNN()) {
    at::globalContext().setAllowTF32CuDNN(allow);
  }
  ~cudnn_tf32_scope() { at::globalContext().setAllowTF32CuDNN(previous_); }
  cudnn_tf32_scope(const cudnn_tf32_scope&) = delete;
  cudnn_tf32_scope& operator=(const cudnn_tf32_scope&) = delete;

 private:
  bool previous_;
};

}  // namespace trackbench::testing
