#pragma once
// The records a guarded reader child hands back to its parent, as bytes: exact (every double
// bit for bit, NaN included; section key order kept). Decoded only from a child of this
// program or from a catalog row whose digest matched (snapshot_index.cpp, which treats any
// exception as a damaged row), so a malformed message is a bug (std::logic_error), not a bad
// file.
#include <string>

#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/format/snapshot.h"

namespace trackbench::tracking::record_codec {

std::string encode(const run_record& record);
run_record decode_run(const std::string& bytes);

std::string encode(const bench_record& record);
bench_record decode_bench(const std::string& bytes);

}  // namespace trackbench::tracking::record_codec
