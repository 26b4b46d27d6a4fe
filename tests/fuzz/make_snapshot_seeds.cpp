// Writes the seed corpus of fuzz_snapshot_reader into the folder given as argv[1]: valid run
// snapshots made by snapshot_writer (with weights, without them, and in the schema v1 layout)
// and a bench snapshot made by write_bench_snapshot (so the fuzzer starts from the real layouts),
// and truncated copies (so it starts from the damage a killed copy leaves too).
// Each valid seed is read back first: a corpus the reader refuses would fuzz little.
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "support/sample_records.h"
#include "support/schema_v1.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_reader.h"
#include "trackbench/tracking/format/snapshot_writer.h"
#include "trackbench/tracking/format/weights_policy.h"

namespace trackbench::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(fs::file_size(path)));
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return bytes;
}

// Reads the image back as the fuzzer does and checks it holds `epochs` epochs, with their
// weights and state when it keeps them.
void check_readable(const std::vector<std::uint8_t>& image, const std::string& name, std::size_t epochs) {
  const tracking::snapshot_reader reader(image, name);
  if (reader.record().epochs.size() != epochs) throw std::runtime_error(name + " reads back with the wrong epoch count");
  const bool kept = tracking::keeps_weights(reader.record());
  for (const int epoch : reader.weight_epochs()) reader.weights(epoch);
  if (reader.state().has_value() != (kept && epochs > 0)) throw std::runtime_error(name + " reads back with the wrong state");
}

void write_seeds(const fs::path& out) {
  const temp_dir scratch;

  const fs::path no_epochs_path = scratch / "no-epochs.h5";
  tracking::snapshot_writer{no_epochs_path, sample_run_record()};  // killed before its first epoch: status "running"
  const auto no_epochs = read_bytes(no_epochs_path);
  check_readable(no_epochs, "seed-no-epochs.h5", 0);
  write_file(out / "seed-no-epochs.h5", no_epochs);

  // Packed: the seeds are single files, and keep_weights all leaves epoch 1 in a sidecar.
  const fs::path written_path = scratch / "written.h5";
  tracking::snapshot_writer writer(written_path, sample_run_record());
  for (int epoch = 1; epoch <= 2; ++epoch) {
    const auto parameters = make_parameters(epoch);
    writer.append_epoch(make_metrics(epoch), parameters, make_state(epoch, parameters));
  }
  writer.finish("completed", "");
  const fs::path completed_path = scratch / "completed.h5";
  tracking::pack_snapshot(tracking::snapshot_reader(written_path), completed_path);
  const auto completed = read_bytes(completed_path);
  check_readable(completed, "seed-completed.h5", 2);
  write_file(out / "seed-completed.h5", completed);

  const fs::path metrics_only_path = scratch / "metrics-only.h5";
  auto metrics_only_record = sample_run_record();
  metrics_only_record.config["keep_weights"] = "none";
  tracking::snapshot_writer metrics_only_writer(metrics_only_path, metrics_only_record);
  for (int epoch = 1; epoch <= 2; ++epoch) {
    metrics_only_writer.append_epoch(make_metrics(epoch), make_parameters(epoch), std::nullopt);
  }
  metrics_only_writer.finish("completed", "");
  const auto metrics_only = read_bytes(metrics_only_path);
  check_readable(metrics_only, "seed-metrics-only.h5", 2);
  write_file(out / "seed-metrics-only.h5", metrics_only);

  downgrade_to_schema_v2(metrics_only_path);
  const auto version_2 = read_bytes(metrics_only_path);
  check_readable(version_2, "seed-schema-v2.h5", 2);
  write_file(out / "seed-schema-v2.h5", version_2);

  downgrade_to_schema_v1(completed_path);
  const auto version_1 = read_bytes(completed_path);
  check_readable(version_1, "seed-schema-v1.h5", 2);
  write_file(out / "seed-schema-v1.h5", version_1);

  const auto truncated = [&](std::size_t size) {
    return std::vector<std::uint8_t>(completed.begin(), completed.begin() + static_cast<std::ptrdiff_t>(size));
  };
  write_file(out / "seed-truncated-half.h5", truncated(completed.size() / 2));
  write_file(out / "seed-truncated-1k.h5", truncated(1024));
  write_file(out / "seed-truncated-last-byte.h5", truncated(completed.size() - 1));

  const fs::path bench_path = scratch / "bench.h5";
  tracking::write_bench_snapshot(bench_path, sample_bench_record({1e-3, 1.1e-3, 0.9e-3, 1.05e-3}));
  const auto bench = read_bytes(bench_path);
  if (tracking::read_bench_snapshot(bench, "seed-bench.h5").benchmarks.size() != 3) {
    throw std::runtime_error("seed-bench.h5 reads back with the wrong benchmark count");
  }
  write_file(out / "seed-bench.h5", bench);
  write_file(out / "seed-bench-truncated-half.h5",
             std::vector<std::uint8_t>(bench.begin(), bench.begin() + static_cast<std::ptrdiff_t>(bench.size() / 2)));
}

}  // namespace
}  // namespace trackbench::testing

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_snapshot_seeds <output folder>\n";
    return 2;
  }
  try {
    std::filesystem::create_directories(argv[1]);
    trackbench::testing::write_seeds(argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "make_snapshot_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
