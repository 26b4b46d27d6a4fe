// Rewrites of a whole snapshot from what it holds: packing it into one file, and marking a run
// failed that died without recording its end.
#include "snapshot_layout.h"
#include "snapshot_reader_impl.h"
#include "trackbench/tracking/format/snapshot_reader.h"

namespace trackbench::tracking {

namespace fs = std::filesystem;
using namespace snapshot_layout;

void pack_snapshot(const snapshot_reader& reader, const fs::path& out) {
  const auto& record = reader.record();
  const auto version = record.identity.at("schema_version").get<std::int64_t>();
  if (version < schema_version) {
    throw snapshot_error("pack takes snapshots of schema version " + std::to_string(schema_version) + "; this one is version " +
                         std::to_string(version) + ", which is self-contained already");
  }
  const auto epochs = record.epochs.size();
  std::vector<std::vector<parameter_digest>> digests;
  for (std::size_t e = 1; e <= epochs; ++e) digests.push_back(reader.parameter_digests(static_cast<int>(e)));
  const std::vector<std::string> no_sidecars(epochs);
  std::map<int, shared_arrays> weights;
  for (const int epoch : reader.weight_epochs()) weights[epoch] = std::make_shared<const std::vector<array_record>>(reader.weights(epoch));
  const auto state = reader.state();
  auto packed = record;
  packed.identity["record_sha256"] = record_digest(packed, digests, no_sidecars, schema_version);
  std::error_code error;
  if (fs::exists(out, error)) throw snapshot_write_error(out.string() + " already exists");
  write_snapshot_file(out, "writing", [&](hid_t file) {
    build_snapshot(file, packed, digests, no_sidecars, weights, state ? &*state : nullptr, true);
  });
}

bool mark_run_failed(const fs::path& snapshot, const std::string& error) {
  const snapshot_reader reader(snapshot);
  const auto& impl = *reader.impl_;
  if (impl.record.identity.at("status").get<std::string>() != "running") return false;
  if (impl.version < schema_version) {
    throw snapshot_error(snapshot.string() + " is of schema version " + std::to_string(impl.version) +
                         "; only a run of this version (" + std::to_string(schema_version) + ") can be marked failed");
  }
  auto after = impl.record;
  after.identity["status"] = "failed";
  after.identity["error"] = error;
  after.identity["end_time"] = utc_timestamp();
  after.identity["record_sha256"] = record_digest(after, impl.digests, impl.sidecar_sha256, schema_version);
  std::map<int, shared_arrays> inline_weights;
  for (const int epoch : impl.inline_epochs) {
    inline_weights[epoch] = std::make_shared<const std::vector<array_record>>(reader.weights(epoch));
  }
  const auto state = reader.state();
  write_snapshot_file(snapshot, "rewriting", [&](hid_t file) {
    build_snapshot(file, after, impl.digests, impl.sidecar_sha256, inline_weights, state ? &*state : nullptr, false);
  });
  return true;
}

}  // namespace trackbench::tracking
