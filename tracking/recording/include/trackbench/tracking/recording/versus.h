#pragma once
// trackbench versus: another program's timings (Google Benchmark JSON, benchmarks named
// PREFIX/SIDE, such as bench/pytorch/compare.py writes) recorded in a bench snapshot, each base
// side judged against the new side with the decision rule (analysis/bench_sides.h).
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "trackbench/tracking/analysis/bench_sides.h"
#include "trackbench/tracking/format/bench.h"

namespace trackbench::tracking {

struct versus_options {
  std::string samples;                  // the Google Benchmark JSON file
  std::string new_side;                 // --new
  std::vector<std::string> base_sides;  // --base, each judged against new_side
  std::string suite = "imported";       // the suite name recorded for these benchmarks
  std::string dataset = "mnist-sample"; // the data the timed work read, recorded in /data
  std::string data_dir;                 // its IDX files; empty: where train finds --dataset
  std::filesystem::path out = "bench-runs";
  decision_options decision;            // --threshold, or the samples' noise
  std::string command_line;
};

struct versus_outcome {
  bench_record record;
  std::filesystem::path snapshot;
  std::vector<std::pair<std::string, std::vector<side_comparison>>> judged;  // per base side
};

// Reads and judges the samples, then writes the snapshot: sides that do not pair are an
// input_error before anything is written. Throws input_error naming the file or flag.
versus_outcome record_versus(const versus_options& options);

}  // namespace trackbench::tracking
