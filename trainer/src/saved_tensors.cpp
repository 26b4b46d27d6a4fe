#include "saved_tensors.h"

#include "trackbench/trainer/errors.h"

namespace trackbench::trainer {

torch::Tensor take_saved(std::map<std::string, torch::Tensor>& saved, const std::string& name, const torch::Tensor& like,
                         const std::string& what) {
  const auto found = saved.find(name);
  if (found == saved.end()) throw input_error("saved " + what + " has no '" + name + "'");
  if (found->second.sizes() != like.sizes() || found->second.scalar_type() != like.scalar_type()) {
    throw input_error("saved " + what + " '" + name + "' has shape " + c10::str(found->second.sizes()) + " " +
                      std::string(c10::toString(found->second.scalar_type())) + ", expected " + c10::str(like.sizes()) +
                      " " + std::string(c10::toString(like.scalar_type())));
  }
  auto tensor = found->second;
  saved.erase(found);
  return tensor;
}

}  // namespace trackbench::trainer
