#pragma once
// A catalog of snapshot records beside the snapshots (SQLite, one file per folder), so that
// ls, history and report over thousands of files do not parse each file at every call. It is
// never the source of truth: a record comes from it only while the file's size, mtime, ctime
// and inode are the ones it was read with, and the cached bytes still match their own SHA-256
// and the record digest the file held; anything else is read from the file through the
// guarded reader and the entry replaced. Deleting the catalog only costs one slower call.
// Refused files are not catalogued, so their error is always the file's current one.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "trackbench/tracking/format/guarded_read.h"

namespace trackbench::tracking {

// The catalog's name in each folder of snapshots; hidden, so snapshot_files_in skips it.
inline constexpr const char* snapshot_index_name = ".trackbench-index.sqlite";

enum class index_use { use, bypass };

// How a call got its records, for the log and the tests.
struct index_report {
  std::size_t from_index = 0;  // unchanged files whose record the catalog held
  std::size_t from_files = 0;  // read through read_snapshot_records
  std::size_t stored = 0;      // records written to a catalog
  std::vector<std::string> problems;  // catalogs that could not be used, and why
};

// read_snapshot_records through the catalog of each file's folder: the same records, in the
// order of `paths`. A catalog that cannot be opened, read or written (a read-only folder, a
// damaged or foreign file of that name, another process holding it) is left as it is and the
// files are read instead. `bypass` reads every file and touches no catalog.
std::vector<snapshot_record> read_indexed_records(const std::vector<std::filesystem::path>& paths,
                                                  index_use use = index_use::use, index_report* report = nullptr);

}  // namespace trackbench::tracking
