#include "trackbench/tracking/analysis/bisect_policy.h"

#include <algorithm>
#include <cstdio>
#include <regex>

#include "trackbench/trainer/errors.h"

namespace trackbench::tracking {
namespace {

bench_record selected(const bench_record& record, const std::vector<std::string>& names) {
  bench_record out;
  for (const auto& result : record.benchmarks) {
    if (std::find(names.begin(), names.end(), result.name) != names.end()) out.benchmarks.push_back(result);
  }
  return out;
}

}  // namespace

std::string to_string(bisect_verdict verdict) {
  switch (verdict) {
    case bisect_verdict::good: return "good";
    case bisect_verdict::bad: return "bad";
    case bisect_verdict::skip: return "skip";
  }
  return "unknown";
}

void check_policy(const bisect_policy& policy) {
  if (policy.min_rounds < 1) throw input_error("--min-rounds must be >= 1, got " + std::to_string(policy.min_rounds));
  if (policy.max_rounds < policy.min_rounds) {
    throw input_error("--max-rounds must be >= --min-rounds (" + std::to_string(policy.min_rounds) + "), got " +
                      std::to_string(policy.max_rounds));
  }
  if (!(policy.max_seconds > 0.0)) throw input_error("--max-seconds-per-commit must be above 0");
  if (policy.threshold && !(*policy.threshold >= 0.0 && *policy.threshold < 1.0)) {
    throw input_error("--threshold must be a percentage from 0 to 100");
  }
  try {
    std::regex{policy.benchmark};
  } catch (const std::regex_error& e) {
    throw input_error("--benchmark '" + policy.benchmark + "' is not a regular expression: " + e.what());
  }
}

std::vector<std::string> deciding_benchmarks(const bench_record& good, const bisect_policy& policy) {
  const std::regex pattern{policy.benchmark};
  std::vector<std::string> names;
  std::string known;
  for (const auto& result : good.benchmarks) {
    if (result.skipped || result.samples.empty()) continue;  // no samples decide nothing
    known += (known.empty() ? "" : ", ") + result.name;
    if (std::regex_search(result.name, pattern)) names.push_back(result.name);
  }
  if (names.empty()) {
    throw input_error("--benchmark '" + policy.benchmark + "' selects no measured benchmark of the good commit (" +
                      (known.empty() ? std::string("it has none") : known) + ")");
  }
  return names;
}

commit_judgement judge_commit(const bench_record& good, const bench_record& commit, const bisect_policy& policy,
                              int rounds, double seconds) {
  const auto names = deciding_benchmarks(good, policy);
  commit_judgement judgement;
  // The good commit's samples were taken at another time, not interleaved: ab's floor (1%) is
  // kept, as a larger one would hide the changes bisect is for; --threshold raises it.
  judgement.changes = compare_benches(selected(good, names), selected(commit, names), {policy.threshold, min_threshold});
  const auto any = [&](bench_verdict v) {
    return std::any_of(judgement.changes.begin(), judgement.changes.end(),
                       [v](const bench_change& c) { return c.verdict == v; });
  };
  const bool enough_rounds = rounds >= policy.min_rounds;
  // Another round would take about as long as the average one so far.
  const bool budget_left = rounds < policy.max_rounds && seconds * (rounds + 1) / rounds <= policy.max_seconds;
  for (const auto& c : judgement.changes) {
    if (c.verdict == bench_verdict::removed || c.verdict == bench_verdict::skipped) {
      judgement.verdict = bisect_verdict::skip;
      judgement.reason = c.name + ": " + (c.verdict == bench_verdict::removed ? "not run at this commit" : c.reason);
      return judgement;
    }
  }
  if (any(bench_verdict::slower) && enough_rounds) {
    judgement.verdict = bisect_verdict::bad;
  } else if (!any(bench_verdict::uncertain) && !any(bench_verdict::slower) && enough_rounds) {
    judgement.verdict = bisect_verdict::good;
  } else if (!budget_left) {
    judgement.verdict = bisect_verdict::skip;
    std::string why;
    for (const auto& c : judgement.changes) {
      if (c.verdict == bench_verdict::uncertain) why += (why.empty() ? "" : "; ") + c.name + ": " + c.reason;
    }
    char spent[64];
    std::snprintf(spent, sizeof spent, "uncertain after %d rounds (%.1f s): ", rounds, seconds);
    judgement.reason = spent + why;
  } else {
    judgement.reason = enough_rounds ? "uncertain" : "fewer rounds than --min-rounds";
  }
  return judgement;
}

}  // namespace trackbench::tracking
