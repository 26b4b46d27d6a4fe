#include "trackbench/tracking/recording/bisect_run.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "trackbench/tracking/format/google_benchmark.h"
#include "trackbench/tracking/recording/stop_signals.h"
#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// What the step finds in the scratch folder: the options (state.json) and one file per measured
// commit, numbered in the order measured (commits/00-<good>.json first).
constexpr const char* state_file = "state.json";
constexpr const char* commits_dir = "commits";
constexpr const char* worktree_dir = "worktree";
constexpr const char* round_file = "round.json";
constexpr int step_abort = 255;  // git bisect run stops on an exit code above 127

struct child_result {
  int exit_code = -1;  // -1 when killed by a signal
  std::string output;  // stdout, when captured
};

// Runs argv (no shell) in `cwd` with `env` added; stdout captured, or sent to our stderr so that
// ours stays the command's result. Throws std::runtime_error when it cannot start or a stop
// signal ended it.
child_result run_child(const std::vector<std::string>& words, const fs::path& cwd,
                       const std::vector<std::pair<std::string, std::string>>& env, bool capture) {
  int pipe_fds[2] = {-1, -1};
  if (capture && ::pipe(pipe_fds) != 0) throw std::runtime_error(std::string("pipe failed: ") + std::strerror(errno));
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (child == 0) {
    ::dup2(capture ? pipe_fds[1] : STDERR_FILENO, STDOUT_FILENO);
    if (capture) {
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
    }
    const int null_in = ::open("/dev/null", O_RDONLY);
    if (null_in >= 0) ::dup2(null_in, STDIN_FILENO);
    if (::chdir(cwd.c_str()) != 0) ::_exit(127);
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> argv;
    for (const auto& word : words) argv.push_back(const_cast<char*>(word.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  child_result result;
  if (capture) {
    ::close(pipe_fds[1]);
    char buffer[4096];
    ssize_t read = 0;
    while ((read = ::read(pipe_fds[0], buffer, sizeof buffer)) != 0) {
      if (read < 0) {
        if (errno == EINTR) continue;
        break;
      }
      result.output.append(buffer, static_cast<std::size_t>(read));
    }
    ::close(pipe_fds[0]);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(words[0] + ": waitpid failed: " + std::strerror(errno));
  }
  if (stop_signal() != 0) throw std::runtime_error("stopped by a signal while " + words[0] + " ran");
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string trimmed(std::string text) {
  text.erase(text.find_last_not_of(" \n") + 1);
  return text;
}

// git in `dir` in the C locale; its output, or std::runtime_error with what it said.
std::string git(const fs::path& dir, const std::vector<std::string>& arguments) {
  std::vector<std::string> words{"git"};
  words.insert(words.end(), arguments.begin(), arguments.end());
  const auto result = run_child(words, dir, {{"LC_ALL", "C"}}, true);
  if (result.exit_code != 0) {
    std::string line = "git";
    for (const auto& a : arguments) line += " " + a;
    throw std::runtime_error(line + " failed in " + dir.string() + " (exit code " + std::to_string(result.exit_code) + ")");
  }
  return trimmed(result.output);
}

bool git_succeeds(const fs::path& dir, const std::vector<std::string>& arguments) {
  std::vector<std::string> words{"git"};
  words.insert(words.end(), arguments.begin(), arguments.end());
  return run_child(words, dir, {{"LC_ALL", "C"}}, true).exit_code == 0;
}

std::string resolved(const fs::path& repo, const std::string& given, const std::string& flag) {
  if (given.empty()) throw input_error(flag + " must name a commit");
  const auto result = run_child({"git", "rev-parse", "--verify", "--quiet", given + "^{commit}"}, repo, {}, true);
  if (result.exit_code != 0) throw input_error(flag + " " + given + ": no such commit in " + repo.string());
  return trimmed(result.output);
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return json::parse(in);
}

// Written whole to a temporary file and renamed, so that a reader never sees half of it.
void write_json(const fs::path& path, const json& document) {
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary);
    out << document.dump();
    if (!out.flush()) throw std::runtime_error("cannot write " + temporary.string());
  }
  fs::rename(temporary, path);
}

bisect_policy policy_of(const json& state) {
  bisect_policy policy;
  policy.benchmark = state.at("benchmark").get<std::string>();
  if (!state.at("threshold").is_null()) policy.threshold = state.at("threshold").get<double>();
  policy.min_rounds = state.at("min_rounds").get<int>();
  policy.max_rounds = state.at("max_rounds").get<int>();
  policy.max_seconds = state.at("max_seconds").get<double>();
  return policy;
}

bench_record record_of(const json& documents, const std::string& what) {
  bench_record record;
  for (const auto& document : documents) append_results(record, parse_google_benchmark(document, "run", what));
  return record;
}

struct measured {
  bisect_step step;
  json documents = json::array();
};

// Runs the command at the commit checked out in the worktree, round after round: `good` empty,
// for --min-rounds rounds (the good commit's samples); else until judged. A command that fails
// or writes no valid Google Benchmark JSON is input_error naming `flag` when given (--good,
// --bad), else a skip.
measured measure(const fs::path& scratch, const json& state, const bench_record* good, const std::string& flag) {
  const auto policy = policy_of(state);
  const auto worktree = scratch / worktree_dir;
  const auto command = state.at("command").get<std::string>();
  measured out;
  out.step.commit = git(worktree, {"rev-parse", "HEAD"});
  out.step.subject = git(worktree, {"log", "-1", "--format=%s"});
  const std::string at = out.step.commit.substr(0, 12) + " (" + out.step.subject + ")";
  const auto json_out = scratch / round_file;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 1;; ++round) {
    std::error_code error;
    fs::remove(json_out, error);
    spdlog::info("{} round {}: {}", at, round, command);
    const auto result = run_child({"/bin/sh", "-c", command}, worktree,
                                  {{"TRACKBENCH_BISECT_JSON", json_out.string()},
                                   {"TRACKBENCH_BISECT_COMMIT", out.step.commit},
                                   {"TRACKBENCH_BISECT_ROUND", std::to_string(round)}},
                                  false);
    std::string failure;
    json document;
    if (result.exit_code != 0) {
      failure = result.exit_code < 0 ? "was killed by a signal" : "failed with exit code " + std::to_string(result.exit_code);
    } else {
      try {
        document = read_json(json_out);
        parse_google_benchmark(document, "run", "$TRACKBENCH_BISECT_JSON");
      } catch (const std::exception& e) {
        failure = "wrote no Google Benchmark JSON to $TRACKBENCH_BISECT_JSON (" + std::string(e.what()) + ")";
      }
    }
    out.step.rounds = round;
    out.step.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!failure.empty()) {
      if (!flag.empty()) throw input_error("--run '" + command + "' " + failure + " at " + flag + " " + at);
      out.step.verdict = bisect_verdict::skip;
      out.step.reason = "--run " + failure;
      return out;
    }
    out.documents.push_back(document);
    const auto record = record_of(out.documents, "$TRACKBENCH_BISECT_JSON");
    if (good == nullptr) {
      if (round < policy.min_rounds) continue;
      deciding_benchmarks(record, policy);  // throws when --benchmark selects nothing
      out.step.verdict = bisect_verdict::good;
      return out;
    }
    auto judgement = judge_commit(*good, record, policy, round, out.step.seconds);
    if (!judgement.verdict) continue;
    out.step.verdict = *judgement.verdict;
    out.step.reason = judgement.reason;
    out.step.changes = std::move(judgement.changes);
    return out;
  }
}

json step_json(const measured& m) {
  return {{"commit", m.step.commit}, {"subject", m.step.subject}, {"verdict", to_string(m.step.verdict)},
          {"reason", m.step.reason}, {"rounds", m.step.rounds},   {"seconds", m.step.seconds},
          {"documents", m.documents}};
}

void save(const fs::path& scratch, const measured& m) {
  const auto dir = scratch / commits_dir;
  const auto index = std::distance(fs::directory_iterator(dir), fs::directory_iterator());
  char name[16];
  std::snprintf(name, sizeof name, "%02ld-", static_cast<long>(index));
  write_json(dir / (name + m.step.commit + ".json"), step_json(m));
}

// Every measured commit, in order; the good commit first, its record kept.
std::vector<bisect_step> saved_steps(const fs::path& scratch, bench_record& good) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(scratch / commits_dir)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  const auto policy = policy_of(read_json(scratch / state_file));
  std::vector<bisect_step> steps;
  for (const auto& file : files) {
    const auto saved = read_json(file);
    bisect_step step;
    step.commit = saved.at("commit").get<std::string>();
    step.subject = saved.at("subject").get<std::string>();
    const auto verdict = saved.at("verdict").get<std::string>();
    step.verdict = verdict == "good" ? bisect_verdict::good : verdict == "bad" ? bisect_verdict::bad : bisect_verdict::skip;
    step.reason = saved.at("reason").get<std::string>();
    step.rounds = saved.at("rounds").get<int>();
    step.seconds = saved.at("seconds").get<double>();
    const auto record = record_of(saved.at("documents"), file.string());
    if (steps.empty()) {
      good = record;
    } else if (!saved.at("documents").empty()) {
      step.changes = judge_commit(good, record, policy, step.rounds, step.seconds).changes;
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

// The worktree and the scratch folder, and the bisection in it, gone however the job ends.
struct scratch_worktree {
  fs::path repo;
  fs::path path;
  bool added = false;
  bool bisecting = false;
  explicit scratch_worktree(const fs::path& repository) : repo(repository) {
    std::string pattern = (fs::temp_directory_path() / "trackbench-bisect-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot make a folder in " + fs::temp_directory_path().string());
    path = pattern;
    fs::create_directories(path / commits_dir);
  }
  ~scratch_worktree() {
    try {
      if (bisecting) git_succeeds(path / worktree_dir, {"bisect", "reset", "--quiet"});
      if (added) git_succeeds(repo, {"worktree", "remove", "--force", (path / worktree_dir).string()});
      std::error_code error;
      fs::remove_all(path, error);
      if (added) git_succeeds(repo, {"worktree", "prune"});
    } catch (const std::exception& e) {
      spdlog::warn("cleaning up {}: {}", path.string(), e.what());
    }
  }
  scratch_worktree(const scratch_worktree&) = delete;
  scratch_worktree& operator=(const scratch_worktree&) = delete;
};

}  // namespace

bisect_outcome run_bisect(const bisect_options& options) {
  check_policy(options.policy);
  if (options.command.empty()) throw input_error("--run must be a command line");
  std::error_code error;
  if (!fs::is_directory(options.repo, error) || !git_succeeds(options.repo, {"rev-parse", "--git-dir"})) {
    throw input_error("--repo " + options.repo + " is not a git checkout");
  }
  const fs::path repo = fs::absolute(options.repo);
  bisect_outcome outcome;
  outcome.good = resolved(repo, options.good, "--good");
  outcome.bad = resolved(repo, options.bad, "--bad");
  if (outcome.good == outcome.bad) throw input_error("--good and --bad are the same commit " + outcome.good);
  if (!git_succeeds(repo, {"merge-base", "--is-ancestor", outcome.good, outcome.bad})) {
    throw input_error("--good " + options.good + " is not an ancestor of --bad " + options.bad);
  }
  install_stop_handlers();
  scratch_worktree scratch(repo);
  const auto worktree = scratch.path / worktree_dir;
  git(repo, {"worktree", "add", "--detach", "--quiet", worktree.string(), outcome.good});
  scratch.added = true;
  const json state{{"command", options.command},
                   {"benchmark", options.policy.benchmark},
                   {"threshold", options.policy.threshold ? json(*options.policy.threshold) : json(nullptr)},
                   {"min_rounds", options.policy.min_rounds},
                   {"max_rounds", options.policy.max_rounds},
                   {"max_seconds", options.policy.max_seconds}};
  write_json(scratch.path / state_file, state);

  const auto good = measure(scratch.path, state, nullptr, "--good");
  save(scratch.path, good);
  const auto good_record = record_of(good.documents, "--good");
  git(worktree, {"checkout", "--quiet", "--detach", outcome.bad});
  const auto bad = measure(scratch.path, state, &good_record, "--bad");
  save(scratch.path, bad);
  if (bad.step.verdict != bisect_verdict::bad) {
    bench_record kept;
    outcome.steps = saved_steps(scratch.path, kept);
    outcome.status = bad.step.verdict == bisect_verdict::good ? bisect_status::not_slower : bisect_status::inconclusive;
    return outcome;
  }

  git(worktree, {"bisect", "start", outcome.bad, outcome.good});
  scratch.bisecting = true;
  const fs::path self = fs::read_symlink("/proc/self/exe");
  // git's own report goes to our stderr, with the steps' logs.
  const auto run = run_child({"git", "bisect", "run", self.string(), "bisect-step", scratch.path.string()}, worktree,
                             {{"LC_ALL", "C"}}, false);
  bench_record kept;
  outcome.steps = saved_steps(scratch.path, kept);
  if (run.exit_code == 0) {
    const auto first = git(worktree, {"rev-parse", "refs/bisect/bad"});
    const auto found = std::find_if(outcome.steps.begin(), outcome.steps.end(),
                                    [&](const bisect_step& s) { return s.commit == first; });
    if (found == outcome.steps.end()) throw std::runtime_error("git bisect named " + first + ", a commit never measured");
    outcome.first_bad = *found;
    outcome.status = bisect_status::found;
    return outcome;
  }
  // Only skipped commits left: the first bad one is the bad end of the range still open or one of them.
  std::vector<std::string> arguments{"rev-list", "refs/bisect/bad", "--not"};
  std::string goods = git(worktree, {"for-each-ref", "--format=%(refname)", "refs/bisect/good-*"});
  for (std::size_t start = 0; start < goods.size();) {
    const auto end = std::min(goods.find('\n', start), goods.size());
    arguments.push_back(goods.substr(start, end - start));
    start = end + 1;
  }
  const auto open = run_child([&] {
    std::vector<std::string> words{"git"};
    words.insert(words.end(), arguments.begin(), arguments.end());
    return words;
  }(), worktree, {}, true);
  if (open.exit_code != 0) throw std::runtime_error("git bisect run failed with exit code " + std::to_string(run.exit_code));
  for (std::size_t start = 0; start < open.output.size();) {
    const auto end = std::min(open.output.find('\n', start), open.output.size());
    if (end > start) outcome.candidates.push_back(open.output.substr(start, end - start));
    start = end + 1;
  }
  outcome.status = bisect_status::inconclusive;
  return outcome;
}

int run_bisect_step(const fs::path& scratch) {
  try {
    install_stop_handlers();
    const auto state = read_json(scratch / state_file);
    bench_record good;
    saved_steps(scratch, good);
    const auto m = measure(scratch, state, &good, "");
    save(scratch, m);
    spdlog::info("{} {}: {}{}", m.step.commit.substr(0, 12), m.step.subject, to_string(m.step.verdict),
                 m.step.reason.empty() ? "" : " (" + m.step.reason + ")");
    switch (m.step.verdict) {
      case bisect_verdict::good: return 0;
      case bisect_verdict::bad: return 1;
      case bisect_verdict::skip: return 125;
    }
  } catch (const std::exception& e) {
    spdlog::error("bisect-step: {}", e.what());
  }
  return step_abort;
}

}  // namespace trackbench::tracking
