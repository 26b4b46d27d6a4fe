#include "suite_process.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "trackbench/tracking/recording/stop_signals.h"

extern char** environ;

namespace trackbench::tracking {
namespace {

std::string name_of(const std::string& setting) { return setting.substr(0, setting.find('=') + 1); }

// This process's environment less the variables `settings` names, then `settings`.
std::vector<std::string> child_environment(const std::vector<std::string>& settings) {
  std::vector<std::string> variables;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string variable = *entry;
    bool replaced = false;
    for (const auto& setting : settings) replaced = replaced || name_of(variable) == name_of(setting);
    if (!replaced) variables.push_back(variable);
  }
  variables.insert(variables.end(), settings.begin(), settings.end());
  return variables;
}

std::vector<char*> pointers(std::vector<std::string>& texts) {
  std::vector<char*> all;
  for (auto& text : texts) all.push_back(text.data());
  all.push_back(nullptr);
  return all;
}

}  // namespace

bool is_executable(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error) && ::access(path.c_str(), X_OK) == 0;
}

int run_child(const std::vector<std::string>& words, const std::vector<std::string>& settings, const std::string& what,
              std::string* output) {
  auto arguments = words;
  auto variables = child_environment(settings);
  const auto argv = pointers(arguments);
  const auto envp = pointers(variables);
  int pipe_ends[2] = {-1, -1};
  if (output != nullptr && ::pipe(pipe_ends) != 0) {
    throw std::runtime_error(what + " could not start: pipe failed: " + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (output != nullptr) {
    posix_spawn_file_actions_addclose(&actions, pipe_ends[0]);
    posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_ends[1]);
  } else {
    posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  }
  pid_t child = 0;
  const int spawned = ::posix_spawn(&child, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (output != nullptr) {
    ::close(pipe_ends[1]);
    if (spawned == 0) {
      char buffer[4096];
      for (;;) {
        const ssize_t got = ::read(pipe_ends[0], buffer, sizeof buffer);
        if (got > 0) {
          output->append(buffer, static_cast<std::size_t>(got));
        } else if (got == 0 || errno != EINTR) {
          break;
        }
      }
    }
    ::close(pipe_ends[0]);
  }
  if (spawned != 0) throw std::runtime_error(what + " could not start: " + std::strerror(spawned));
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(what + ": waitpid failed: " + std::strerror(errno));
  }
  if (WIFSIGNALED(status)) {
    if (stop_signal() != 0) throw std::runtime_error("stopped by a signal while " + what + " ran");
    throw std::runtime_error(what + " crashed: " + strsignal(WTERMSIG(status)));
  }
  return WEXITSTATUS(status);
}

nlohmann::ordered_json run_suite_under(const benchmark_suite& suite, const std::vector<std::string>& wrapper,
                                 const std::vector<std::string>& arguments, const std::vector<std::string>& settings,
                                 const std::filesystem::path& json_out) {
  auto words = wrapper;
  words.push_back(suite.executable.string());
  words.push_back("--benchmark_out=" + json_out.string());
  words.push_back("--benchmark_out_format=json");
  words.insert(words.end(), arguments.begin(), arguments.end());
  const std::string what = "benchmark suite " + suite.name + " (" + suite.executable.string() +
                           (wrapper.empty() ? ")" : ", under " + wrapper.front() + ")");
  const int exit_code = run_child(words, settings, what);
  if (exit_code != 0) throw std::runtime_error(what + " failed with exit code " + std::to_string(exit_code));
  std::ifstream in(json_out);
  if (!in) throw std::runtime_error(what + " wrote no JSON output to " + json_out.string());
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  // Google Benchmark leaves the file empty when --benchmark_filter matches none of its benchmarks.
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return nlohmann::ordered_json{{"benchmarks", nlohmann::ordered_json::array()}};
  }
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(what + " wrote invalid JSON: " + e.what());
  }
}

}  // namespace trackbench::tracking
