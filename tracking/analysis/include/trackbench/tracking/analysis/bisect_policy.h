#pragma once
// How trackbench bisect classifies one commit from its samples against the good commit's, by the
// decision rule (decision.h): slower -> bad; same or faster -> good; uncertain -> more samples
// while the commit's budget lasts, then skip (a guess would send the bisection down the wrong half;
// a skip only widens the answer). docs/benchmarking.md says why.
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/bench_gate.h"
#include "trackbench/tracking/format/bench.h"

namespace trackbench::tracking {

enum class bisect_verdict { good, bad, skip };
std::string to_string(bisect_verdict verdict);

struct bisect_policy {
  std::string benchmark;             // --benchmark: a regular expression (search); empty: every benchmark
  std::optional<double> threshold;   // a fraction; empty: from the samples' noise, at least min_threshold
  int min_rounds = 2;                // rounds of the command at each commit before a verdict counts
  int max_rounds = 6;                // --max-rounds per commit
  double max_seconds = 1800;         // --max-seconds-per-commit
};

// Throws input_error naming the flag of a bad value (and a --benchmark that is no regex).
void check_policy(const bisect_policy& policy);

struct commit_judgement {
  std::optional<bisect_verdict> verdict;  // empty: undecided, run the command again
  std::string reason;                      // why skip (or still undecided)
  std::vector<bench_change> changes;       // the deciding benchmarks, the commit against the good one
};

// The good commit's benchmarks that --benchmark selects. Throws input_error naming --benchmark
// (and the benchmarks there are) when it selects none.
std::vector<std::string> deciding_benchmarks(const bench_record& good, const bisect_policy& policy);

// The verdict on `commit` after `rounds` runs of the command taking `seconds`: any deciding
// benchmark slower -> bad, all same or faster -> good; one uncertain -> undecided while another
// round fits the budget, else skip; a deciding benchmark missing or skipped at the commit -> skip.
commit_judgement judge_commit(const bench_record& good, const bench_record& commit, const bisect_policy& policy,
                              int rounds, double seconds);

}  // namespace trackbench::tracking
