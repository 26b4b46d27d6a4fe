#include "trackbench/kernels/precision.h"

#include <stdexcept>

namespace trackbench::kernels {

std::string to_string(precision value) { return value == precision::tf32 ? "tf32" : "fp32"; }

precision parse_precision(const std::string& name) {
  if (name == "fp32") return precision::fp32;
  if (name == "tf32") return precision::tf32;
  throw std::invalid_argument("unknown precision '" + name + "'; expected fp32 or tf32");
}

}  // namespace trackbench::kernels
