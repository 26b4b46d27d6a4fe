// Taking named tensors out of a saved set, each checked against the model's own, for the two
// readers of saved weights: restore_state (resume, reproduce) and load_parameters (evaluate).
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

namespace trackbench::trainer {

// Removes and returns `name` from `saved`, checked against the shape and type of `like` (on any
// device). Throws input_error naming `what` ("parameters", "optimizer state") and the tensor when
// it is missing or does not match.
torch::Tensor take_saved(std::map<std::string, torch::Tensor>& saved, const std::string& name, const torch::Tensor& like,
                         const std::string& what);

}  // namespace trackbench::trainer
