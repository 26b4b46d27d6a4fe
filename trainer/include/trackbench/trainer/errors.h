#pragma once
// Error kinds the command line maps to exit codes: bad input is the user's to
// fix (exit 2), a training failure is the run's (exit 1).
#include <stdexcept>
#include <string>

namespace trackbench {

// A malformed file, flag or environment: the message names what and why.
class input_error : public std::runtime_error {
 public:
  explicit input_error(const std::string& what) : std::runtime_error(what) {}
};

// The run itself failed (non-finite loss, device fault) after starting.
class training_error : public std::runtime_error {
 public:
  explicit training_error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace trackbench
