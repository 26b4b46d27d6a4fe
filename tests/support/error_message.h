#pragma once
#include <gtest/gtest.h>

#include <string>

namespace trackbench::testing {

// The message of the `Error` that `action` throws; records a test failure when it throws none.
template <typename Error, typename F>
std::string error_message(F&& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return {};
}

}  // namespace trackbench::testing
