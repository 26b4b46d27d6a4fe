#pragma once
// Google Benchmark's JSON output (--benchmark_format=json) as the samples of a bench snapshot.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "trackbench/tracking/format/bench.h"

namespace trackbench::tracking {

// The iteration entries of one suite's Google Benchmark JSON output (aggregates are left out:
// they are recomputed from the samples), counters in the order the suite wrote them. Throws
// input_error naming `source` when the document is not such an output.
std::vector<bench_result> parse_google_benchmark(const nlohmann::ordered_json& document, const std::string& suite,
                                                 const std::string& source);

// `results` (one more run of a suite) added to `record`: a new benchmark appended, a known one's
// samples appended to its own, a skip kept.
void append_results(bench_record& record, std::vector<bench_result> results);

// Seconds in one Google Benchmark time unit: ns, us, ms or s; 0 for any other text.
double seconds_per_unit(const std::string& unit);

}  // namespace trackbench::tracking
