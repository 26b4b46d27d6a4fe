#pragma once
// Reading a run snapshot, fully validated first, and the rewrites made from what it holds.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/weights_policy.h"

namespace trackbench::tracking {

// Opens and fully validates a snapshot before anything is read from it: only objects, links,
// types, shapes and filters the schema defines are accepted. Throws snapshot_error.
class snapshot_reader {
 public:
  explicit snapshot_reader(const std::filesystem::path& path);
  // The same, from a file image in memory (`name` is used in messages).
  snapshot_reader(const std::vector<std::uint8_t>& image, const std::string& name);
  ~snapshot_reader();
  snapshot_reader(snapshot_reader&&) noexcept;
  snapshot_reader& operator=(snapshot_reader&&) = delete;
  snapshot_reader(const snapshot_reader&) = delete;
  snapshot_reader& operator=(const snapshot_reader&) = delete;

  const run_record& record() const;
  // The parameters after `epoch` (1-based), each checked against its stored SHA-256; from the
  // sidecar file when the snapshot keeps them there, after checking the whole file against the
  // SHA-256 the snapshot recorded for it. Throws snapshot_error for an epoch whose weights were
  // not kept, naming the policy, or a missing or corrupt sidecar, naming it.
  std::vector<array_record> weights(int epoch) const;
  // Whether the weights of `epoch` were kept (in the file or a sidecar).
  bool has_weights(int epoch) const;
  // The epochs whose weights were kept, ascending.
  std::vector<int> weight_epochs() const;
  // The kept epochs whose sidecar file is not there (checked by existence; weights() checks digests).
  std::vector<int> missing_sidecars() const;
  // Whether any kept epoch lives in a sidecar (a packed snapshot has none).
  bool has_sidecars() const;
  // The digest of each parameter after `epoch`: recorded for every epoch since schema v4, taken
  // from the weights' own sha256 attributes in older files that kept them; empty otherwise.
  std::vector<parameter_digest> parameter_digests(int epoch) const;
  // Absent for a run that completed no epoch or keeps no weights.
  std::optional<saved_state> state() const;

  struct impl;  // the open file and what was validated; defined in snapshot_reader_impl.h

 private:
  friend bool mark_run_failed(const std::filesystem::path& snapshot, const std::string& error);
  std::unique_ptr<impl> impl_;
};

// Writes `reader`'s snapshot as one self-contained file at `out` (which must not exist): every
// kept epoch's weights inside it, no sidecars. Throws snapshot_error (a missing or corrupt
// sidecar) or snapshot_write_error.
void pack_snapshot(const snapshot_reader& reader, const std::filesystem::path& out);

// Records the end of a run whose writer died without recording it (status still "running": the
// process was killed or crashed) as "failed" with `error` and an end time, by rewriting the
// snapshot whole from what it holds (digests, weights, state, sidecars as they are) and renaming
// it into place. The launcher of a job calls it when rank 0, the job's writer, ended first.
// Returns false, changing nothing, when the run recorded its own end. Throws snapshot_error for
// a file it cannot read, snapshot_write_error when the rewrite fails (the file is then as before).
bool mark_run_failed(const std::filesystem::path& snapshot, const std::string& error);

}  // namespace trackbench::tracking
