// libFuzzer target: the run and bench snapshot readers must refuse any file image they cannot
// read with a snapshot_error and nothing else, whatever the bytes. They run every check the
// commands run in their guarded child: structure, each field's value rule (schema.cpp), the
// class counts and confusion rows adding up, record_sha256 and each array's SHA-256.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "trackbench/tracking/analysis/bench_gate.h"
#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::uint8_t> image(data, data + size);
  try {
    const trackbench::tracking::snapshot_reader reader(image, "fuzz-input.h5");
    for (const int epoch : reader.weight_epochs()) reader.weights(epoch);
    reader.state();
  } catch (const trackbench::tracking::snapshot_error&) {
    // The one documented way to refuse a file. Anything else escapes on purpose: callers
    // treat only snapshot_error (an input_error) as "bad snapshot", so another exception
    // would take down the command; escaping, it ends in std::terminate, which libFuzzer
    // reports as a crash with the input saved, like a sanitizer report.
  }
  try {
    const auto record = trackbench::tracking::read_bench_snapshot(image, "fuzz-input.h5");
    trackbench::tracking::compare_benches(record, record);
  } catch (const trackbench::tracking::snapshot_error&) {
    // As above.
  }
  return 0;
}
