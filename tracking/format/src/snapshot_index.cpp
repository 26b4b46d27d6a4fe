#include "trackbench/tracking/format/snapshot_index.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>

#include "record_codec.h"
#include "trackbench/trainer/checksum.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;

// Raised whenever the version of what a record read means changes (the reader checks more,
// the codec changes), so that no catalog of an older trackbench is trusted by a newer one.
constexpr int index_format = 1;

std::string catalog_version() {
  return "trackbench snapshot index " + std::to_string(index_format) + "; run schema " + std::to_string(schema_version) +
         "; bench schema " + std::to_string(bench_schema_version);
}

// What says a file is the one a record was read from. ctime and the inode catch a rewrite that
// kept the size and set the mtime back (touch -d, cp -p, an unpacked archive).
struct file_state {
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::int64_t inode = 0;
  bool operator==(const file_state& other) const {
    return size == other.size && mtime_ns == other.mtime_ns && ctime_ns == other.ctime_ns && inode == other.inode;
  }
  bool operator!=(const file_state& other) const { return !(*this == other); }
};

std::optional<file_state> state_of(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  const auto nanoseconds = [](const timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
  return file_state{static_cast<std::int64_t>(st.st_size), nanoseconds(st.st_mtim), nanoseconds(st.st_ctim),
                    static_cast<std::int64_t>(st.st_ino)};
}

struct catalog_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct entry {
  file_state state;
  std::string kind;           // "run" or "bench"
  std::string record_sha256;  // the record's own digest as the file held it; empty before schema checksums
  std::string bytes;          // record_codec's encoding
  std::string entry_sha256;   // of all the above and the file's name: a damaged or moved row is not used
};

std::string entry_digest(const std::string& name, const entry& e) {
  trainer::sha256_hasher hash;
  for (const auto& text : {name, std::to_string(e.state.size), std::to_string(e.state.mtime_ns),
                           std::to_string(e.state.ctime_ns), std::to_string(e.state.inode), e.kind, e.record_sha256,
                           e.bytes}) {
    const auto length = std::to_string(text.size()) + ":";
    hash.update(length.data(), length.size());
    hash.update(text.data(), text.size());
  }
  return hash.hex_digest();
}

class statement {
 public:
  statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) throw catalog_error(sqlite3_errmsg(db));
  }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  void bind(int index, const std::string& text) {
    check(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
  }
  void bind_blob(int index, const std::string& bytes) {
    check(sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT));
  }
  void bind(int index, std::int64_t value) { check(sqlite3_bind_int64(stmt_, index, value)); }
  // True while there is a row.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw catalog_error(sqlite3_errmsg(db_));
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string text(int column) const {
    const auto* data = sqlite3_column_blob(stmt_, column);
    return data ? std::string(static_cast<const char*>(data), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
                : std::string();
  }

 private:
  void check(int rc) const {
    if (rc != SQLITE_OK) throw catalog_error(sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// One folder's catalog. Every SQLite failure is a catalog_error, which makes the caller read
// the files instead.
class catalog {
 public:
  explicit catalog(const fs::path& file) {
    std::error_code error;
    const bool exists = fs::exists(fs::symlink_status(file, error));
    // NOFOLLOW: a link planted in a shared folder must not make us write somewhere else.
    int rc = sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
                             nullptr);
    if (rc != SQLITE_OK && exists) {
      sqlite3_close(db_);
      db_ = nullptr;
      rc = sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, nullptr);
    }
    if (rc != SQLITE_OK) {
      const std::string reason = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw catalog_error(reason);
    }
    writable_ = sqlite3_db_readonly(db_, "main") == 0;
    // The catalog is data, not code: no triggers or views of a planted file run here.
    sqlite3_db_config(db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    sqlite3_db_config(db_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
    sqlite3_busy_timeout(db_, 2000);
    try {
      prepare();
    } catch (...) {
      sqlite3_close(db_);
      throw;
    }
  }
  ~catalog() { sqlite3_close(db_); }
  catalog(const catalog&) = delete;
  catalog& operator=(const catalog&) = delete;

  bool writable() const { return writable_; }

  std::optional<entry> find(const std::string& name) {
    lookup_->reset();
    lookup_->bind(1, name);
    if (!lookup_->step()) return std::nullopt;
    entry found;
    found.state = {lookup_->integer(0), lookup_->integer(1), lookup_->integer(2), lookup_->integer(3)};
    found.kind = lookup_->text(4);
    found.record_sha256 = lookup_->text(5);
    found.bytes = lookup_->text(6);
    found.entry_sha256 = lookup_->text(7);
    return found;
  }

  // Stores the entries, and drops those of files no longer in `folder`, in one transaction.
  void store(const fs::path& folder, const std::vector<std::pair<std::string, entry>>& entries) {
    exec("BEGIN IMMEDIATE");
    try {
      statement insert(db_,
                       "INSERT OR REPLACE INTO records (name, size, mtime_ns, ctime_ns, inode, kind, record_sha256, "
                       "record, entry_sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
      for (const auto& [name, e] : entries) {
        insert.reset();
        insert.bind(1, name);
        insert.bind(2, e.state.size);
        insert.bind(3, e.state.mtime_ns);
        insert.bind(4, e.state.ctime_ns);
        insert.bind(5, e.state.inode);
        insert.bind(6, e.kind);
        insert.bind(7, e.record_sha256);
        insert.bind_blob(8, e.bytes);
        insert.bind(9, e.entry_sha256);
        insert.step();
      }
      std::vector<std::string> gone;
      statement names(db_, "SELECT name FROM records");
      while (names.step()) {
        const auto name = names.text(0);
        if (!state_of(folder / name)) gone.push_back(name);
      }
      statement remove(db_, "DELETE FROM records WHERE name = ?1");
      for (const auto& name : gone) {
        remove.reset();
        remove.bind(1, name);
        remove.step();
      }
      exec("COMMIT");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

 private:
  void exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string reason = message ? message : sqlite3_errmsg(db_);
      sqlite3_free(message);
      throw catalog_error(reason);
    }
  }

  std::optional<std::string> stored_version() {
    statement tables(db_, "SELECT count(*) FROM sqlite_schema");
    tables.step();
    if (tables.integer(0) == 0) return std::nullopt;  // a new, empty file
    try {
      statement version(db_, "SELECT value FROM meta WHERE key = 'format'");
      if (version.step()) return version.text(0);
    } catch (const catalog_error&) {
    }
    throw catalog_error("it is not a trackbench snapshot index (no meta table with its format)");
  }

  // Creates the tables in a new file and empties those of another trackbench version.
  void prepare() {
    const auto version = stored_version();
    if (version != catalog_version()) {
      const std::string prefix = "trackbench snapshot index ";
      if (version && version->compare(0, prefix.size(), prefix) != 0) {
        throw catalog_error("it is not a trackbench snapshot index (format '" + *version + "')");
      }
      if (!writable_) throw catalog_error("it was written by another trackbench version and is read-only");
      exec("BEGIN IMMEDIATE");
      try {
        exec("DROP TABLE IF EXISTS records");
        exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
        exec("CREATE TABLE records (name TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, "
             "ctime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, kind TEXT NOT NULL, record_sha256 TEXT NOT NULL, "
             "record BLOB NOT NULL, entry_sha256 TEXT NOT NULL)");
        statement set(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES ('format', ?1)");
        set.bind(1, catalog_version());
        set.step();
        exec("COMMIT");
      } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
      }
    }
    lookup_ = std::make_unique<statement>(db_,
                                          "SELECT size, mtime_ns, ctime_ns, inode, kind, record_sha256, record, "
                                          "entry_sha256 FROM records WHERE name = ?1");
  }

  sqlite3* db_ = nullptr;
  bool writable_ = false;
  std::unique_ptr<statement> lookup_;
};

std::string record_digest(const nlohmann::ordered_json& identity) {
  const auto found = identity.find("record_sha256");
  return found != identity.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// The record an entry of file `path` holds, when the entry is intact and its record carries
// the digest it was filed under.
std::optional<snapshot_record> record_of(const fs::path& path, const entry& e) {
  if (entry_digest(path.filename().string(), e) != e.entry_sha256) return std::nullopt;
  try {
    snapshot_record record;
    record.path = path.string();
    if (e.kind == "run") {
      record.run = record_codec::decode_run(e.bytes);
      if (record_digest(record.run->identity) != e.record_sha256) return std::nullopt;
    } else if (e.kind == "bench") {
      record.bench = record_codec::decode_bench(e.bytes);
      if (record_digest(record.bench->identity) != e.record_sha256) return std::nullopt;
    } else {
      return std::nullopt;
    }
    return record;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

entry entry_of(const fs::path& path, const snapshot_record& record, const file_state& state) {
  entry e;
  e.state = state;
  e.kind = record.run ? "run" : "bench";
  e.record_sha256 = record_digest(record.run ? record.run->identity : record.bench->identity);
  e.bytes = record.run ? record_codec::encode(*record.run) : record_codec::encode(*record.bench);
  e.entry_sha256 = entry_digest(path.filename().string(), e);
  return e;
}

}  // namespace

std::vector<snapshot_record> read_indexed_records(const std::vector<fs::path>& paths, index_use use,
                                                  index_report* report) {
  index_report local;
  index_report& counts = report ? *report : local;
  if (use == index_use::bypass) {
    counts.from_files += paths.size();
    return read_snapshot_records(paths);
  }
  std::vector<fs::path> folder_of(paths.size());
  std::map<fs::path, std::vector<std::size_t>> by_folder;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    folder_of[i] = paths[i].parent_path().empty() ? fs::path(".") : paths[i].parent_path();
    by_folder[folder_of[i]].push_back(i);
  }
  std::vector<snapshot_record> out(paths.size());
  std::vector<std::optional<file_state>> before(paths.size());
  std::map<fs::path, std::unique_ptr<catalog>> catalogs;
  std::vector<std::size_t> unread;
  for (const auto& [folder, members] : by_folder) {
    std::unique_ptr<catalog> opened;
    const auto file = folder / snapshot_index_name;
    try {
      opened = std::make_unique<catalog>(file);
    } catch (const catalog_error& e) {
      // A folder this user cannot write and that has no catalog is not a problem worth telling.
      std::error_code error;
      if (fs::exists(fs::symlink_status(file, error))) counts.problems.push_back(file.string() + ": " + e.what());
    }
    for (const auto i : members) {
      before[i] = state_of(paths[i]);
      if (opened && before[i]) {
        try {
          const auto found = opened->find(paths[i].filename().string());
          if (found && found->state == *before[i]) {
            if (auto record = record_of(paths[i], *found)) {
              out[i] = std::move(*record);
              ++counts.from_index;
              continue;
            }
          }
        } catch (const catalog_error& e) {
          counts.problems.push_back(file.string() + ": " + e.what());
          opened.reset();
        }
      }
      unread.push_back(i);
    }
    if (opened) catalogs[folder] = std::move(opened);
  }

  std::vector<fs::path> unread_paths;
  for (const auto i : unread) unread_paths.push_back(paths[i]);
  auto read = read_snapshot_records(unread_paths);
  counts.from_files += read.size();
  std::map<fs::path, std::vector<std::pair<std::string, entry>>> to_store;
  for (std::size_t k = 0; k < unread.size(); ++k) {
    const auto i = unread[k];
    out[i] = std::move(read[k]);
    const auto found = catalogs.find(folder_of[i]);
    // Only a record of a file that did not change while it was read describes that file.
    if (found == catalogs.end() || !found->second->writable() || !out[i].error.empty() || !before[i] ||
        state_of(paths[i]) != before[i]) {
      continue;
    }
    to_store[folder_of[i]].emplace_back(paths[i].filename().string(), entry_of(paths[i], out[i], *before[i]));
  }
  for (const auto& [folder, entries] : to_store) {
    try {
      catalogs[folder]->store(folder, entries);
      counts.stored += entries.size();
    } catch (const catalog_error& e) {
      counts.problems.push_back((folder / snapshot_index_name).string() + ": " + e.what());
    }
  }
  return out;
}

}  // namespace trackbench::tracking
