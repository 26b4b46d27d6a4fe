#pragma once
// The records of files the caller has opened itself, validated exactly as snapshot_reader and
// read_bench_snapshot validate them: for the batch reader, which opens each file once to learn
// its kind and read it. Both throw snapshot_error naming `name`.
#include <string>

#include "hdf5_io.h"
#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::tracking {

run_record read_run_record(hdf5::id file, const std::string& name);
bench_record read_bench_record(hdf5::id file, const std::string& name);

}  // namespace trackbench::tracking
