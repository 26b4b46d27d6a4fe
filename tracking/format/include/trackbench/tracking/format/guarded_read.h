#pragma once
// Reading a snapshot this process did not just write. HDF5 is not designed for hostile files
// (its own security policy says so): a corrupt or crafted file can crash it or make it spin
// forever, and snapshots are shared, attached to CI and downloaded from MLflow. So the file is
// read into memory once and parsed first in a child process under a wall-clock and a memory
// limit; only when the child parsed it cleanly does this process parse the same bytes (no
// second read of the file that could differ). A crash, a hang or a blown limit in the child
// becomes a snapshot_error naming the file (exit 2 in the command line).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/format/bench.h"
#include "trackbench/tracking/format/snapshot.h"
#include "trackbench/tracking/format/snapshot_reader.h"

namespace trackbench::tracking {

struct read_limits {
  double seconds = 0.0;            // wall clock the child may take; it is killed after
  std::uint64_t memory_bytes = 0;  // address space the child may add to what it inherited
};
// 5 s plus 1 s per 25 MB of file; 1 GiB plus 4 times the file (HDF5 copies the image).
read_limits default_read_limits(std::uint64_t file_bytes);

// How much the child checks: the record alone (show, ls, compare, report, export), or also
// every weight and the resume state against their digests (reproduce, resume).
enum class read_depth { record, arrays };

// The bytes of a snapshot file. Throws snapshot_error: no such file, "is a directory", not a
// regular file, unreadable, larger than 16 GiB.
std::vector<std::uint8_t> read_snapshot_bytes(const std::filesystem::path& path);

// Runs `parse` in a child process under `limits`. Returns normally when it returned; rethrows
// its snapshot_error's message as a snapshot_error; and turns a crash, a timeout, an
// exhausted memory limit or any other exception into a snapshot_error naming `name`.
// `parse` may return a short result (at most 64 KiB) that is handed back.
std::string run_guarded(const std::string& name, const read_limits& limits, const std::function<std::string()>& parse);

// A run or a bench snapshot: exactly one of the two is set.
struct loaded_snapshot {
  std::string path;
  std::optional<snapshot_reader> run;
  std::optional<bench_record> bench;
};

// Reads `path` as above (with default_read_limits when `limits` is not given).
loaded_snapshot load_snapshot(const std::filesystem::path& path, read_depth depth = read_depth::record,
                              const std::optional<read_limits>& limits = std::nullopt);
// The same for a command that takes run snapshots only: a bench snapshot is a snapshot_error
// saying so, naming `command`.
snapshot_reader load_run_snapshot(const std::filesystem::path& path, const std::string& command,
                                  read_depth depth = read_depth::record);

// The snapshots in `folder`: its regular *.h5 files, hidden ones left out, in name order.
std::vector<std::filesystem::path> snapshot_files_in(const std::filesystem::path& folder);

// A snapshot's record, without its weights and resume state: what ls, compare, report and
// history need. Exactly one of run, bench and error is set; error is the snapshot_error's
// message, naming the file.
struct snapshot_record {
  std::string path;
  std::optional<run_record> run;
  std::optional<bench_record> bench;
  std::string error;
};

// Reads the records of many snapshots, each fully validated (layout, the record's own
// digest, the weights' metadata: a hostile file is still an error naming it) but without
// reading a weight or the resume state. A guarded child parses a whole batch straight from
// the files and hands each record back; this process never parses the files itself. A crash,
// a hang or a blown limit is charged to the one file being parsed, and a new child goes on
// with the rest. Results are in the order of `paths`. Per file the limits are
// default_read_limits of its size unless `limits` is given.
std::vector<snapshot_record> read_snapshot_records(const std::vector<std::filesystem::path>& paths,
                                                   const std::optional<read_limits>& limits = std::nullopt);
// The same for a command that needs every one of them: throws the first unreadable file's
// snapshot_error.
std::vector<snapshot_record> read_every_snapshot_record(const std::vector<std::filesystem::path>& paths);
// `records` when none has an error; otherwise throws the first error as a snapshot_error.
std::vector<snapshot_record> require_every_record(std::vector<snapshot_record> records);

}  // namespace trackbench::tracking
