#pragma once
// How bench results read on a terminal: times with their unit, counters with SI prefixes, and
// the per-benchmark table that `bench` prints at its end and `show` prints for a bench snapshot.
#include <string>

#include "trackbench/tracking/format/bench.h"

namespace trackbench::cli {

// 1.23 ms, 456 us, 7.89 s: three significant digits in the unit that fits.
std::string format_seconds(double seconds);

// Benchmark, median time per iteration, spread, repetitions, the instructions per iteration when
// any were counted, and the key counters (items/s, FLOP/s, bytes/s, as medians over the
// repetitions) when present.
void print_bench_table(const tracking::bench_record& record);

}  // namespace trackbench::cli
