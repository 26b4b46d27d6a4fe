#pragma once
// The exception every CUDA path of the kernels library throws for a failed CUDA call or
// launch (conv2d.h, normalize.h). nvcc-free, so callers in plain C++ can catch it by type.
#include <stdexcept>
#include <string>

namespace trackbench::kernels {

class cuda_error : public std::runtime_error {
 public:
  explicit cuda_error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace trackbench::kernels
