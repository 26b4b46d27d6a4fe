#pragma once
// One throwing check for every CUDA runtime call, naming the call and where it failed.
#include <cuda_runtime_api.h>

#include <string>

#include "trackbench/kernels/cuda_error.h"

namespace trackbench::kernels {

inline void cuda_check(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) {
    throw cuda_error(std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: " +
                     cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
  }
}

}  // namespace trackbench::kernels

#define CUDA_CHECK(call) ::trackbench::kernels::cuda_check((call), #call, __FILE__, __LINE__)
