// The catalog of records beside the snapshots (read_indexed_records): a second read gives the
// same records from the catalog, and nothing the catalog holds is used once the file or the
// catalog's row has changed, or when the catalog is not one.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "support/process.h"
#include "support/sample_records.h"
#include "support/temp_dir.h"
#include "trackbench/tracking/format/snapshot_index.h"
#include "trackbench/tracking/format/snapshot_writer.h"

namespace trackbench::tracking {
namespace {

namespace fs = std::filesystem;

std::string contents(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs SQL on a catalog as another program would; returns the first column of the first row.
std::string sql(const fs::path& catalog, const std::string& statement) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(catalog.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* prepared = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, statement.c_str(), -1, &prepared, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::string first;
  if (sqlite3_step(prepared) == SQLITE_ROW && sqlite3_column_text(prepared, 0)) {
    first = reinterpret_cast<const char*>(sqlite3_column_text(prepared, 0));
  }
  sqlite3_finalize(prepared);
  sqlite3_close(db);
  return first;
}

// The record as JSON, epochs included, or the error: what a command could print of it.
std::string described(const snapshot_record& record) {
  if (!record.error.empty()) return "error: " + record.error;
  return record.run ? to_json(*record.run).dump() : to_json(*record.bench).dump();
}

class SnapshotIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_run("a.h5", "ci");
    write_run("b.h5", "nightly");
    write_bench_snapshot(dir_ / "bench.h5", testing::sample_bench_record({1e-3, 1.1e-3, 0.9e-3}));
    std::ofstream(dir_ / "text.h5") << "not a snapshot\n";
    paths_ = {dir_ / "a.h5", dir_ / "b.h5", dir_ / "bench.h5", dir_ / "text.h5"};
  }

  void write_run(const std::string& name, const std::string& owner) {
    auto record = testing::sample_run_record();
    record.tags["owner"] = owner;
    snapshot_writer writer(dir_ / name, record);
    for (int epoch = 1; epoch <= 2; ++epoch) {
      const auto parameters = testing::make_parameters(epoch);
      writer.append_epoch(testing::make_metrics(epoch), parameters, testing::make_state(epoch, parameters));
    }
    writer.finish("completed", "");
  }

  // Every record as read straight from the files.
  std::vector<std::string> truth() {
    std::vector<std::string> out;
    for (const auto& record : read_snapshot_records(paths_)) out.push_back(described(record));
    return out;
  }

  std::vector<std::string> indexed(index_report& report) {
    std::vector<std::string> out;
    for (const auto& record : read_indexed_records(paths_, index_use::use, &report)) out.push_back(described(record));
    return out;
  }

  fs::path catalog() const { return dir_ / snapshot_index_name; }

  testing::temp_dir dir_;
  std::vector<fs::path> paths_;
};

TEST_F(SnapshotIndexTest, SecondReadComesFromTheCatalogAndEqualsTheFiles) {
  const auto expected = truth();
  index_report first;
  EXPECT_EQ(indexed(first), expected);
  EXPECT_EQ(first.from_index, 0u);
  EXPECT_EQ(first.from_files, 4u);
  EXPECT_EQ(first.stored, 3u) << "the unreadable file is not catalogued";
  EXPECT_TRUE(first.problems.empty());
  ASSERT_TRUE(fs::exists(catalog()));

  index_report second;
  EXPECT_EQ(indexed(second), expected);
  EXPECT_EQ(second.from_index, 3u);
  EXPECT_EQ(second.from_files, 1u) << "an unreadable file is read again, so its error is always current";
  EXPECT_EQ(second.stored, 0u);
  EXPECT_EQ(sql(catalog(), "SELECT count(*) FROM records"), "3");
}

TEST_F(SnapshotIndexTest, FileChangedInPlaceWithItsSizeAndMtimeKeptIsReadAgain) {
  index_report first;
  indexed(first);
  const auto mtime = fs::last_write_time(paths_[0]);
  const auto size = fs::file_size(paths_[0]);
  {
    std::fstream file(paths_[0], std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(static_cast<std::streamoff>(size / 2));
    file.put('\x5a');
  }
  fs::last_write_time(paths_[0], mtime);
  ASSERT_EQ(fs::file_size(paths_[0]), size);

  index_report second;
  const auto read = read_indexed_records(paths_, index_use::use, &second);
  EXPECT_EQ(second.from_index, 2u) << "b.h5 and bench.h5 are unchanged";
  EXPECT_EQ(second.from_files, 2u);
  EXPECT_EQ(described(read[0]), truth()[0]) << "the record is the file's, whatever it now holds";
}

TEST_F(SnapshotIndexTest, ReplacedFileGivesItsNewRecord) {
  index_report first;
  indexed(first);
  write_run("new.h5", "someone else");
  fs::rename(dir_ / "new.h5", paths_[0]);
  index_report second;
  const auto read = indexed(second);
  EXPECT_EQ(read, truth());
  EXPECT_NE(read[0].find("someone else"), std::string::npos);
  EXPECT_EQ(second.from_index, 2u);
  EXPECT_EQ(second.stored, 1u);
}

TEST_F(SnapshotIndexTest, DamagedOrMovedRowIsNotUsed) {
  index_report first;
  const auto expected = indexed(first);
  // A byte more in b.h5's cached record, and b.h5's row under a.h5's name with a.h5's file state.
  sql(catalog(), "UPDATE records SET record = record || x'00' WHERE name = 'b.h5'");
  sql(catalog(), "UPDATE records SET (kind, record_sha256, record, entry_sha256) = "
                 "(SELECT kind, record_sha256, record, entry_sha256 FROM records WHERE name = 'bench.h5') "
                 "WHERE name = 'a.h5'");
  index_report second;
  EXPECT_EQ(indexed(second), expected);
  EXPECT_EQ(second.from_index, 1u) << "only bench.h5's row is intact";
  EXPECT_EQ(second.stored, 2u) << "the two bad rows are replaced";
  index_report third;
  EXPECT_EQ(indexed(third), expected);
  EXPECT_EQ(third.from_index, 3u);
}

TEST_F(SnapshotIndexTest, ForeignFileOfTheCatalogsNameIsLeftAsItIs) {
  std::ofstream(catalog()) << "my notes, not a database\n";
  index_report report;
  EXPECT_EQ(indexed(report), truth());
  EXPECT_EQ(report.from_files, 4u);
  EXPECT_EQ(report.stored, 0u);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_NE(report.problems[0].find(catalog().string()), std::string::npos) << report.problems[0];
  EXPECT_EQ(contents(catalog()), "my notes, not a database\n");

  fs::remove(catalog());
  sql(catalog(), "CREATE TABLE notes (text TEXT)");
  index_report other;
  EXPECT_EQ(indexed(other), truth());
  ASSERT_EQ(other.problems.size(), 1u);
  EXPECT_NE(other.problems[0].find("not a trackbench snapshot index"), std::string::npos) << other.problems[0];
  EXPECT_EQ(sql(catalog(), "SELECT count(*) FROM sqlite_schema"), "1") << "the other database is not changed";
}

TEST_F(SnapshotIndexTest, CatalogOfAnotherVersionIsRebuilt) {
  index_report first;
  const auto expected = indexed(first);
  sql(catalog(), "UPDATE meta SET value = 'trackbench snapshot index 0' WHERE key = 'format'");
  index_report second;
  EXPECT_EQ(indexed(second), expected);
  EXPECT_EQ(second.from_index, 0u);
  EXPECT_EQ(second.stored, 3u);
  EXPECT_NE(sql(catalog(), "SELECT value FROM meta WHERE key = 'format'"), "trackbench snapshot index 0");
}

TEST_F(SnapshotIndexTest, RowsOfRemovedFilesAreDroppedAtTheNextWrite) {
  index_report first;
  indexed(first);
  fs::remove(paths_[1]);
  write_run("c.h5", "new");
  paths_ = {dir_ / "a.h5", dir_ / "c.h5"};
  index_report second;
  EXPECT_EQ(indexed(second), truth());
  EXPECT_EQ(sql(catalog(), "SELECT group_concat(name, ',') FROM (SELECT name FROM records ORDER BY name)"),
            "a.h5,bench.h5,c.h5");
}

TEST_F(SnapshotIndexTest, BypassTouchesNoCatalog) {
  index_report report;
  const auto read = read_indexed_records(paths_, index_use::bypass, &report);
  EXPECT_EQ(report.from_files, 4u);
  EXPECT_FALSE(fs::exists(catalog()));
  std::vector<std::string> described_read;
  for (const auto& record : read) described_read.push_back(described(record));
  EXPECT_EQ(described_read, truth());
}

TEST_F(SnapshotIndexTest, EveryRecordThrowsTheFirstUnreadableFile) {
  try {
    require_every_record(read_indexed_records(paths_));
    FAIL() << "text.h5 is not a snapshot";
  } catch (const snapshot_error& e) {
    EXPECT_NE(std::string(e.what()).find("text.h5"), std::string::npos) << e.what();
  }
}

TEST_F(SnapshotIndexTest, LsCataloguesAndNoIndexReadsTheFiles) {
  fs::remove(paths_[3]);
  const auto bypassed = testing::run_trackbench("ls --no-index '" + dir_.path().string() + "'");
  EXPECT_EQ(bypassed.exit_code, 0) << bypassed.output;
  EXPECT_FALSE(fs::exists(catalog()));
  const auto first = testing::run_trackbench("-v ls '" + dir_.path().string() + "'");
  EXPECT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("0 records from snapshot indexes, 3 read from the files (3 indexed)"), std::string::npos)
      << first.output;
  const auto second = testing::run_trackbench("-v ls '" + dir_.path().string() + "'");
  EXPECT_NE(second.output.find("3 records from snapshot indexes, 0 read from the files"), std::string::npos)
      << second.output;
  const auto table = [](const std::string& output) {  // stdout lines only: the table
    std::string lines;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("debug:", 0) != 0 && line.rfind("info:", 0) != 0) lines += line + "\n";
    }
    return lines;
  };
  EXPECT_EQ(table(second.output), table(bypassed.output));
}

}  // namespace
}  // namespace trackbench::tracking
