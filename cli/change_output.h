#pragma once
// How the decisions on benchmarks (tracking::bench_change) read, for compare of two bench
// snapshots and ab alike: a terminal table, one line of text, JSON, JUnit test cases and a
// Markdown table (written with ci_output.h).
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "ci_output.h"
#include "trackbench/tracking/analysis/bench_gate.h"

namespace trackbench::cli {

// "+3.0% [+2.1%, +3.9%] beyond +-1.0%, q = 0.0012": the Hodges-Lehmann change with its 95%
// interval, the threshold and the q-value; "-" parts where there is none.
std::string change_text(const tracking::bench_change& change);

// benchmark, base and new medians, change [95% interval], threshold, q, verdict (reason).
void print_change_table(const std::vector<tracking::bench_change>& changes);

// The decision as JSON: verdict, reason, medians, median change, Hodges-Lehmann change and its
// bounds (relative, new / base - 1), threshold, p, q, spreads and sample counts.
nlohmann::ordered_json change_json(const tracking::bench_change& change);

// One testcase per benchmark, failed when `failed` says so, the change and its interval in the
// failure message.
std::vector<junit_case> change_junit_cases(const std::string& classname, const std::vector<tracking::bench_change>& changes,
                                           const std::function<bool(const tracking::bench_change&)>& failed);

// A row per benchmark: medians, change, q, verdict (bold when failed), reason.
std::string change_markdown(const std::vector<tracking::bench_change>& changes,
                            const std::function<bool(const tracking::bench_change&)>& failed);

}  // namespace trackbench::cli
