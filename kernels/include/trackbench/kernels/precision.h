#pragma once
// The arithmetic a run asks of every GPU library it uses (the custom conv kernels, cuDNN and
// cuBLAS alike), so that a comparison between them is at the same precision.
//   fp32: IEEE single-precision products and sums on CUDA cores.
//   tf32: inputs rounded to TF32 for the tensor cores, products summed in FP32.
// It changes results, so a run records it and compare/reproduce treat it as part of the config.
#include <string>

namespace trackbench::kernels {

enum class precision { fp32, tf32 };

std::string to_string(precision value);  // "fp32" or "tf32"
// Throws std::invalid_argument naming the expected names.
precision parse_precision(const std::string& name);

}  // namespace trackbench::kernels
