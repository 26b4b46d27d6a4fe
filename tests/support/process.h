#pragma once
// Runs the trackbench executable as a user would and captures what it prints.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace trackbench::testing {

struct process_result {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line with no input.
inline process_result run_command(const std::string& shell_command) {
  const std::string command = "{ " + shell_command + "; } 2>&1 < /dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed for " + command);
  process_result result;
  std::array<char, 4096> buffer{};
  std::size_t read = 0;
  while ((read = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), read);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// `arguments` is appended to the executable's path as shell words.
inline process_result run_trackbench(const std::string& arguments) {
  return run_command(std::string("'") + TRACKBENCH_EXECUTABLE + "' " + arguments);
}

}  // namespace trackbench::testing
