#pragma once
// trackbench bisect: `git bisect run` in a throw-away worktree, each commit judged by the
// statistics (analysis/bisect_policy.h) against the good commit's samples. The command given
// with --run builds and runs the benchmarks in the worktree (its working folder) and writes
// Google Benchmark JSON to the file $TRACKBENCH_BISECT_JSON names; it is run again at a commit
// for more samples while the verdict is uncertain. The good and bad commits are measured first
// (the bad one must be slower); git then tests the commits between with `trackbench bisect-step`.
// The worktree, its bisect state and the scratch folder are removed however the job ends.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/bisect_policy.h"

namespace trackbench::tracking {

struct bisect_options {
  std::string repo = ".";  // --repo: the checkout whose history is bisected
  std::string good;        // --good, --bad: commits (any form git rev-parse reads)
  std::string bad;
  std::string command;     // --run: a shell command line
  bisect_policy policy;
};

struct bisect_step {
  std::string commit;   // full hash
  std::string subject;  // its first message line
  bisect_verdict verdict = bisect_verdict::skip;
  std::string reason;
  int rounds = 0;
  double seconds = 0.0;
  std::vector<bench_change> changes;  // against the good commit (none at the good commit)
};

enum class bisect_status {
  found,        // first_bad is the first bad commit
  not_slower,   // --bad is not slower than --good: nothing to bisect
  inconclusive  // --bad undecided, or skipped commits leave several candidates
};

struct bisect_outcome {
  bisect_status status = bisect_status::inconclusive;
  std::string good;  // full hashes
  std::string bad;
  std::optional<bisect_step> first_bad;  // with status found
  std::vector<std::string> candidates;   // with skips: the commits the first bad one may be, newest first
  std::vector<bisect_step> steps;        // as measured: good, bad, then git's choices
};

// Throws input_error naming the flag: a commit git does not know, --good not an ancestor of
// --bad, a bad policy value, a --benchmark selecting nothing, and a --run command that fails or
// writes no Google Benchmark JSON at --good or --bad. std::runtime_error when git fails or a
// signal stops the job.
bisect_outcome run_bisect(const bisect_options& options);

// One step of `git bisect run`, in the worktree at the commit to test, with the scratch folder
// run_bisect made: measures the commit and returns git's exit code for it (0 good, 1 bad,
// 125 skip; 255, which stops git, when the scratch folder is unreadable or a signal stops it).
int run_bisect_step(const std::filesystem::path& scratch);

}  // namespace trackbench::tracking
